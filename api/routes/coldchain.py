"""Cold-chain endpoints: excursions and the units they flagged."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query

from api.deps import platform
from api.routes.inventory import utc
from infra.warehouse import thread_client
from streams.processors.coldchain_store import excursions_report

router = APIRouter(tags=["cold chain"])

Status = Literal["open", "confirmed", "ended_within_tolerance", "ended_confirmed"]


@router.get("/v1/coldchain/excursions")
def get_excursions(
    facility: str | None = None,
    equipment: str | None = None,
    status: Status | None = Query(None, description="Only excursions in this state."),
    since: datetime | None = Query(None, description="Started at or after (event time)."),
    limit: int = Query(200, ge=1, le=10_000),
) -> dict[str, Any]:
    """Temperature and agitation excursions, latest first: range broken, duration, peak,
    whether it passed the tolerance, and every unit flagged (quarantine recommended); plus
    units returned after too long out of refrigeration (discard recommended)."""
    settings = platform().settings
    return excursions_report(
        thread_client(settings),
        facility=facility,
        equipment=equipment,
        status=status,
        since=utc(since),
        limit=limit,
    )
