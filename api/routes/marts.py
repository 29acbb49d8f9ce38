"""The marts over HTTP, one endpoint per dashboard panel (and for BI tools).

Filters: ``period`` is a year (2025) or a month (2025-06), default the latest year with
collections; ``county`` a county code of the reference seed; ``baseline`` the year growth is
measured against (default: supply_demand_yearly's baseline, else the year before). Plain ``def``
endpoints: FastAPI runs them in its thread pool with that thread's warehouse client, off the
event loop, as every other warehouse route does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Query

from api.dashboard.queries import MartQueries, Period, run_translated
from api.deps import platform
from infra.warehouse import thread_client

router = APIRouter(prefix="/v1/marts", tags=["marts"])

T = TypeVar("T")

PERIOD = Query(None, description="A year (2025) or a month (2025-06); default: the latest year.")
COUNTY = Query(None, description="A county code (e.g. C01 or 610902); default: the whole city.")
BASELINE = Query(None, ge=1900, le=2200, description="Baseline year for growth.")
YEAR = Query(None, ge=1900, le=2200, description="Year; default: the latest year.")


def answer(work: Callable[[MartQueries], T]) -> T:
    """Run ``work`` on this thread's warehouse client; warehouse errors become 503s."""
    settings = platform().settings
    return run_translated(
        settings, lambda: work(MartQueries(thread_client(settings), settings.warehouse_database))
    )


def resolve(q: MartQueries, period: str | None, county: str | None) -> Period:
    q.check_county(county)
    return Period.parse(period) if period else Period(q.latest_year())


def baseline_for(q: MartQueries, period: Period, baseline: int | None) -> int | None:
    return baseline if baseline is not None else q.default_baseline(period.year)


@router.get("/options")
def get_options() -> dict[str, Any]:
    """Years and months with data, the counties, the default period and baseline year."""
    return answer(lambda q: q.options())


@router.get("/headline")
def get_headline(
    period: str | None = PERIOD, county: str | None = COUNTY, baseline: int | None = BASELINE
) -> dict[str, Any]:
    """Donations and units collected, clinical use (units transfused), growth of each against
    the baseline year's same span, wastage rate (units discarded / units collected), red-cell
    days of supply and its warning level, open alerts by severity."""

    def work(q: MartQueries) -> dict[str, Any]:
        p = resolve(q, period, county)
        return q.headline(p, county, baseline_for(q, p, baseline))

    return answer(work)


@router.get("/speech")
def get_speech(year: int | None = YEAR, baseline: int | None = BASELINE) -> dict[str, Any]:
    """The speech's blanks filled for the year (mart speech_figures when present)."""

    def work(q: MartQueries) -> dict[str, Any]:
        p = Period(year) if year else resolve(q, None, None)
        return q.speech(p.year, baseline_for(q, p, baseline))

    return answer(work)


@router.get("/supply-demand")
def get_supply_demand(county: str | None = COUNTY) -> dict[str, Any]:
    """Units collected and transfused per month with the gap; the city's yearly growth."""

    def work(q: MartQueries) -> dict[str, Any]:
        q.check_county(county)
        return q.supply_demand(county)

    return answer(work)


@router.get("/inventory")
def get_inventory(period: str | None = PERIOD) -> dict[str, Any]:
    """Days of supply per ABO/RhD group and component on the period's last day (city-wide),
    the red-cell history over the period and the warning levels."""
    return answer(lambda q: q.inventory(resolve(q, period, None)))


@router.get("/wastage")
def get_wastage(period: str | None = PERIOD, county: str | None = COUNTY) -> dict[str, Any]:
    """Units discarded by cause (with the Pareto's cumulative share), component, facility."""
    return answer(lambda q: q.wastage(resolve(q, period, county), county))


@router.get("/donors")
def get_donors(period: str | None = PERIOD, county: str | None = COUNTY) -> dict[str, Any]:
    """Donations per month by donor group, first-time/repeat and age band (city-wide), and
    penetration of the eligible population per county and year."""
    return answer(lambda q: q.donors(resolve(q, period, county), county))


@router.get("/counties")
def get_counties(year: int | None = YEAR) -> dict[str, Any]:
    """The county scorecard (考核) with sites per 10,000 residents and ranks."""
    return answer(lambda q: q.scorecard(year or resolve(q, None, None).year))


@router.get("/counties/{county_code}")
def get_county(county_code: str, year: int | None = YEAR) -> dict[str, Any]:
    """One county's donation sites and hospitals in the year (404 for an unknown county)."""
    return answer(lambda q: q.county_detail(county_code, year or resolve(q, None, None).year))


@router.get("/campaigns")
def get_campaigns(year: int | None = YEAR, county: str | None = COUNTY) -> dict[str, Any]:
    """Campaign uplift against the previous year's window, and honours by level."""

    def work(q: MartQueries) -> dict[str, Any]:
        q.check_county(county)
        return q.campaigns(year or resolve(q, None, None).year, county)

    return answer(work)


@router.get("/tables")
def list_tables() -> list[str]:
    """The marts dbt has built."""
    return answer(lambda q: q.mart_tables())


@router.get("/tables/{table}")
def get_table(
    table: str,
    county: str | None = COUNTY,
    limit: int = Query(1000, ge=1, le=10_000),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """Any mart's rows as they are, paged (for BI tools); ``county`` filters marts that have
    a county_code column. 404 for a table that is not a mart."""
    return answer(lambda q: q.table(table, county=county, limit=limit, offset=offset))
