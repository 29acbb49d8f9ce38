"""Supply early warning and emergency recruitment endpoints, and the hospital notices of a
lookback. The dashboard reads ``GET /v1/supply/forecast`` (the latest stored projection per
group × component with the levels' probabilities)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from api.deps import platform
from api.routes.trace import audited_lookup
from infra.warehouse import thread_client
from models.events import ComponentType
from streams.lookback_notices import notice_status
from streams.supply import latest_forecast, recruit, run_forecast

router = APIRouter(tags=["supply"])


@router.get("/v1/supply/forecast")
def get_forecast(
    refresh: bool = Query(False, description="Recompute now (else the latest stored run)."),
) -> dict[str, Any]:
    """Forecast collection and use per ABO/RhD group × component, projected stock and days of
    supply for each day ahead with intervals, and the probability of each level."""
    p = platform()
    client = thread_client(p.settings)
    if refresh:
        return run_forecast(client, p.settings, send_alerts=p.ctx.raise_alerts)
    return latest_forecast(client)


@router.get("/v1/supply/recruit")
def get_recruit(
    request: Request,
    group: str = Query(..., description="ABO/RhD group, e.g. O+."),
    component: ComponentType = Query(ComponentType.red_cells),
    limit: int | None = Query(
        None, ge=1, le=100_000, description="Donors listed (default: needed)."
    ),
) -> dict[str, Any]:
    """Eligible donors of a group on the call day (pseudonyms only), ranked, by site, with the
    number to call to close the projected gap. Audited."""
    return audited_lookup(
        request,
        "supply.recruit",
        group,
        lambda c, s: recruit(c, s, group, component=str(component.value)).to_json(limit),
    )


@router.get("/v1/lookbacks/{lookback_id}/notices")
def get_notices(lookback_id: str) -> list[dict[str, Any]]:
    """Each hospital's notice of a lookback: units, recipients, acknowledged or overdue."""
    settings = platform().settings
    return notice_status(thread_client(settings), [lookback_id])
