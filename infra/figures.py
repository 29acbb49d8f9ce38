"""The speech's figures (dbt mart ``speech_figures_by_year``) for one year and baseline year:
the service behind ``GET /v1/figures`` and ``bloodtrace figures``.

The mart holds every (year, baseline year) pair, so choosing a year needs no dbt run; the
definitions live in the mart's description (dbt/models/marts/speech/).
"""

from __future__ import annotations

from typing import Any

from infra.errors import ConfigError, NotFound
from infra.settings import Settings
from infra.warehouse import WarehouseClient

MART = "speech_figures_by_year"
COLUMNS = (
    "figure",
    "label_zh",
    "label_en",
    "value",
    "then_value",
    "value_unit",
    "note",
)


def marts_database(settings: Settings) -> str:
    """dbt writes its marts to ``<warehouse database>_marts`` (dbt/dbt_project.yml)."""
    return f"{settings.warehouse_database}_marts"


def _years(client: WarehouseClient, table: str) -> list[int]:
    rows = client.query(f"select distinct figure_year from {table} order by 1").result_rows
    return [int(r[0]) for r in rows]


def figures_report(
    client: WarehouseClient,
    settings: Settings,
    *,
    year: int | None = None,
    baseline: int | None = None,
) -> dict[str, Any]:
    """The figures of ``year`` (default: the latest with data) against ``baseline`` (default:
    ``year`` less ``settings.dbt.baseline_years_back``), with Chinese and English labels."""
    table = f"{marts_database(settings)}.{MART}"
    exists = client.query(
        "select count() from system.tables where database = {db:String} and name = {name:String}",
        parameters={"db": marts_database(settings), "name": MART},
    ).result_rows[0][0]
    if not exists:
        raise NotFound(
            "The speech figures have not been built yet.",
            hint="Run `bloodtrace dbt build` (the platform also builds them on its schedule).",
        )
    years = _years(client, table)
    if not years:
        raise NotFound("No donations in the warehouse yet: there are no figures to show.")
    chosen = years[-1] if year is None else year
    if chosen not in years:
        raise NotFound(
            f"No donations in {chosen}: no figures for that year.",
            hint=f"Years with data: {', '.join(map(str, years))}.",
        )
    base = chosen - settings.dbt.baseline_years_back if baseline is None else baseline
    if base >= chosen:
        raise ConfigError(
            f"The baseline year ({base}) must be before the year ({chosen}).",
            hint="e.g. `bloodtrace figures --year 2024 --baseline 2020`.",
        )
    rows = client.query(
        f"select {', '.join(COLUMNS)} from {table} "
        "where figure_year = {year:UInt32} and baseline_year = {base:UInt32} "
        "order by figure_order",
        parameters={"year": chosen, "base": base},
    ).result_rows
    if not rows:
        raise NotFound(
            f"No baseline year {base} for {chosen}: baseline years go back to "
            f"{chosen - settings.dbt.baseline_years_back} or the first year with data.",
            hint=f"Years with data: {', '.join(map(str, years))}.",
        )
    return {
        "year": chosen,
        "baseline_year": base,
        "figures": [dict(zip(COLUMNS, row, strict=True)) for row in rows],
    }
