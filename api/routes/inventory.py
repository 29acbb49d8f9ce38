"""Inventory endpoints: stock and days of supply, expiring units, the history of levels.

Every figure is derived from unit events; ``as_of`` (event time, default: the latest event in
the warehouse) decides the demand window and what has expired.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query

from api.deps import platform
from infra.errors import InvalidParameter
from infra.warehouse import thread_client
from models.events import ComponentType
from streams.processors.inventory import rebuild
from streams.processors.inventory_store import expiring_report, inventory_report, levels_report

router = APIRouter(tags=["inventory"])

GROUP = Query(None, description="ABO/RhD group (O+, O-, …) or ISBT 128 code (51, 95, …).")


# What the warehouse's DateTime64 columns hold: a time outside is refused here (422), not by
# the warehouse's query parser (which would be a 500).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2299, 12, 31, tzinfo=UTC)


def utc(moment: datetime | None, name: str = "since") -> datetime | None:
    """A time without a zone is taken as UTC; InvalidParameter outside the warehouse's range."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not EARLIEST <= moment <= LATEST:
        raise InvalidParameter(
            f"{name}={moment.isoformat()} is outside the times the warehouse holds.",
            hint=f"Give a time between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}.",
        )
    return moment


@router.get("/v1/inventory")
def get_inventory(
    facility: str | None = Query(None, description="One facility (and the city rows)."),
    group: str | None = GROUP,
    component: ComponentType | None = None,
    window_days: int | None = Query(
        None, ge=1, le=90, description="Demand window in days (default: inventory settings)."
    ),
    as_of: datetime | None = Query(None, description="Event time to evaluate at."),
) -> dict[str, Any]:
    """Live stock (available, quarantined, expired on the shelf) and days of supply with its
    level (normal / tight / short / critical) per facility × ABO/RhD group × component type,
    and the same for the whole city (facility `*`, demand = units issued to wards)."""
    settings = platform().settings
    return inventory_report(
        thread_client(settings),
        settings,
        facility=facility,
        group=group,
        component=component.value if component else None,
        window_days=window_days,
        as_of=utc(as_of),
    )


@router.get("/v1/inventory/expiring")
def get_expiring(
    facility: str | None = None,
    hours: float | None = Query(
        None, gt=0, le=24 * 90, description="Horizon in hours (default 72)."
    ),
    as_of: datetime | None = None,
    limit: int = Query(1000, ge=1, le=100_000),
) -> dict[str, Any]:
    """Available units expiring within the horizon, soonest first, each with a suggestion to
    move it to the facility of the same city most short of its group and component."""
    settings = platform().settings
    return expiring_report(
        thread_client(settings),
        settings,
        facility=facility,
        hours=hours,
        as_of=utc(as_of),
        limit=limit,
    )


@router.get("/v1/inventory/levels")
def get_levels(
    facility: str | None = Query(None, description="A facility, or * for the city."),
    group: str | None = GROUP,
    component: ComponentType | None = None,
    since: datetime | None = None,
    limit: int = Query(5000, ge=1, le=100_000),
) -> dict[str, Any]:
    """The history of levels: a row at every change, and one per key per day."""
    settings = platform().settings
    return levels_report(
        thread_client(settings),
        facility=facility,
        group=group,
        component=component.value if component else None,
        since=utc(since),
        limit=limit,
    )


@router.post("/v1/inventory/rebuild")
def post_rebuild() -> dict[str, Any]:
    """Fold every donation in the warehouse again (after a bulk load that bypassed the
    stream). Runs in the warehouse thread, between stream batches."""
    p = platform()

    def run() -> int:
        return rebuild(thread_client(p.settings), p.settings)

    return {"donations": p.ctx.warehouse_executor.submit(run).result()}
