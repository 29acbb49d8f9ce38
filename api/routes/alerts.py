"""Alerts and quality findings for people: filtered, paged, newest first.

Alerts come from the processors (cold chain, safety rules, inventory levels, lookbacks and
recalls) through the alerts topic into the ``alerts`` table; findings from the quality runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query

from api.dashboard.queries import MartQueries
from api.routes.inventory import utc
from api.routes.marts import answer

router = APIRouter(tags=["alerts"])

Severity = Literal["critical", "warning", "info"]


@router.get("/v1/alerts")
def get_alerts(
    severity: Severity | None = None,
    rule: str | None = Query(None, description="e.g. coldchain.excursion, inventory.level"),
    since: datetime | None = Query(None, description="Occurred at or after (UTC if no zone)."),
    until: datetime | None = Query(None, description="Occurred before."),
    facility: str | None = None,
    din: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """Alerts, newest first (each alert once even if raised again), with the total for
    paging: ``{total, limit, offset, items}``."""

    def work(q: MartQueries) -> dict[str, Any]:
        return q.alerts(
            severity=severity,
            rule=rule,
            since=utc(since),
            until=utc(until, "until"),
            facility=facility,
            din=din,
            limit=limit,
            offset=offset,
        )

    return answer(work)


@router.get("/v1/alerts/summary")
def get_alert_summary() -> dict[str, Any]:
    """Open alerts (raised in the last days before the newest) by severity, and totals by
    rule."""

    def work(q: MartQueries) -> dict[str, Any]:
        return {
            "open_by_severity": q.open_alerts_by_severity(),
            "by_rule": q.rows(
                f"select rule, severity, uniqExact(alert_id) as alerts from {q.db}.alerts "
                "group by rule, severity order by alerts desc"
            ),
        }

    return answer(work)


@router.get("/v1/findings")
def get_findings(
    severity: Severity | None = None,
    check: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """The latest quality run's findings, newest event first, paged:
    ``{run_id, total, by_severity, limit, offset, items}``."""
    return answer(lambda q: q.findings(severity=severity, check=check, limit=limit, offset=offset))
