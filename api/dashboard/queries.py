"""The dashboard's query service: every figure the page, the API and the workbook show.

One function per panel, each reading the dbt marts (``<database>_marts``) and the reference
seeds (``<database>_reference``) with plain SQL. Mart and column names live here and nowhere
else, so when a mart changes only this module follows. Every function takes a
clickhouse-connect client (the warehouse thread's, in the platform) and returns JSON-ready
dicts: dates as ISO strings, decimals as floats.

Filters: a *period* is a year (``2025``) or a month (``2025-06``); a *county* is a county code
of the reference seed. Marts without a county (city-wide inventory, donor structure) ignore the
county filter and say so in ``scope``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from infra.errors import (
    BloodtraceError,
    InvalidIdentifier,
    MartsNotBuilt,
    NotFound,
    WarehouseQueryFailed,
)
from infra.settings import Settings
from infra.warehouse import WarehouseClient, translated
from infra.where import Where

T = TypeVar("T")

# Speech sentences are the "numbers leadership can quote" (the first seed's blanks).
SEVERITIES = ("critical", "warning", "info")
# Alerts raised within this many days of the newest alert count as open (alerts have no
# acknowledgement yet: an alert is live until it ages out of this window).
OPEN_ALERT_DAYS = 7
RED_CELLS = "red_cells"
ALL_CAUSES = "all"  # wastage_monthly's row of every cause together
# The speech's figures per (year, baseline year), when the marts have them (dbt marts/speech).
SPEECH_MART = "speech_figures_by_year"
# The inventory history shows at most this many days up to the period's last stock day.
HISTORY_DAYS = 92


class BadFilter(InvalidIdentifier):
    """A period the dashboard cannot read (the API answers 422, the CLI exits 1)."""


@dataclass(frozen=True)
class Period:
    year: int
    month: int | None = None

    @classmethod
    def parse(cls, text: str) -> Period:
        match = re.fullmatch(r"(\d{4})(?:-(\d{1,2}))?", text.strip())
        if not match:
            raise BadFilter(f"period {text!r}: expected a year (2025) or a month (2025-06)")
        month = int(match.group(2)) if match.group(2) else None
        if month is not None and not 1 <= month <= 12:
            raise BadFilter(f"period {text!r}: month out of range")
        return cls(int(match.group(1)), month)

    @property
    def start(self) -> date:
        return date(self.year, self.month or 1, 1)

    @property
    def end(self) -> date:
        """First day after the period."""
        if self.month is None:
            return date(self.year + 1, 1, 1)
        return date(self.year + (self.month == 12), self.month % 12 + 1, 1)

    def shifted_to(self, year: int) -> Period:
        """The same span in another year (the baseline's)."""
        return Period(year, self.month)

    def __str__(self) -> str:
        return f"{self.year}" if self.month is None else f"{self.year}-{self.month:02d}"


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 4)
    return value


# ClickHouse's UNKNOWN_TABLE and UNKNOWN_DATABASE: a marts or reference schema dbt has not
# built yet (a fresh warehouse), answered as such rather than as a failed statement.
NOT_BUILT_CODES = (60, 81)


def run_translated(settings: Settings, work: Callable[[], T]) -> T:
    """``work()`` with lower-level warehouse errors translated (infra.warehouse.translated),
    letting Bloodtrace errors (an unknown county, a bad period) through unchanged."""
    caught: BloodtraceError | None = None
    try:
        with translated(settings):
            try:
                return work()
            except BloodtraceError as exc:
                caught = exc
    except WarehouseQueryFailed as exc:
        caught = exc
    assert caught is not None
    if (
        isinstance(caught, WarehouseQueryFailed)
        and caught.fields.get("code") in NOT_BUILT_CODES
        and f"{settings.warehouse_database}_" in caught.message
    ):
        raise MartsNotBuilt(
            "The dashboard's marts are not built yet on this warehouse.",
            hint="Run `bloodtrace dbt run`, or wait for the platform's dbt schedule.",
        ) from caught
    raise caught


class MartQueries:
    """Queries over one warehouse database's marts and seeds."""

    def __init__(self, client: WarehouseClient, database: str) -> None:
        self.client = client
        self.db = database
        self.marts = f"{database}_marts"
        self.ref = f"{database}_reference"

    # ---- plumbing ------------------------------------------------------------------------
    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        result = self.client.query(sql, parameters=params)
        names = result.column_names
        return [
            {n: _json(v) for n, v in zip(names, row, strict=True)} for row in result.result_rows
        ]

    def scalar(self, sql: str, **params: Any) -> Any:
        rows = self.client.query(sql, parameters=params).result_rows
        return _json(rows[0][0]) if rows else None

    def has_table(self, database: str, table: str) -> bool:
        return bool(
            self.scalar(
                "select count() from system.tables where database = {d:String} "
                "and name = {t:String}",
                d=database,
                t=table,
            )
        )

    def _county_clause(self, county: str | None, column: str = "county_code") -> str:
        return f" and {column} = {{county:String}}" if county else ""

    def mart_tables(self) -> list[str]:
        return [
            r["name"]
            for r in self.rows(
                "select name from system.tables where database = {d:String} order by name",
                d=self.marts,
            )
        ]

    def table(self, name: str, *, county: str | None, limit: int, offset: int) -> dict[str, Any]:
        """A mart's rows, paged, in its sort order (for BI tools)."""
        if name not in self.mart_tables():
            raise NotFound(f"No mart {name!r}.", hint="GET /v1/marts/tables lists them.")
        columns = [
            r["name"]
            for r in self.rows(
                "select name from system.columns where database = {d:String} "
                "and table = {t:String} order by position",
                d=self.marts,
                t=name,
            )
        ]
        where = (
            " where county_code = {county:String}" if county and "county_code" in columns else ""
        )
        total = self.scalar(f"select count() from {self.marts}.`{name}`{where}", county=county)
        items = self.rows(
            f"select * from {self.marts}.`{name}`{where} order by tuple(*) "
            f"limit {{limit:UInt32}} offset {{offset:UInt32}}",
            county=county,
            limit=limit,
            offset=offset,
        )
        return {
            "table": name,
            "total": int(total or 0),
            "limit": limit,
            "offset": offset,
            "items": items,
        }

    # ---- filters -------------------------------------------------------------------------
    def counties(self) -> list[dict[str, Any]]:
        return self.rows(
            f"select county_code, county_name, population, eligible_population "
            f"from {self.ref}.counties order by county_code"
        )

    def check_county(self, county: str | None) -> None:
        if county and county not in {c["county_code"] for c in self.counties()}:
            raise NotFound(f"No county {county!r} in the reference data.")

    def options(self) -> dict[str, Any]:
        """What the filters offer: years and months with data, counties, defaults."""
        years = [
            int(r["y"])
            for r in self.rows(
                f"select distinct collected_year as y from {self.marts}.collections_yearly "
                f"order by y"
            )
        ]
        months = [
            r["m"][:7]
            for r in self.rows(
                f"select distinct collected_month as m from {self.marts}.collections_monthly "
                f"order by m"
            )
        ]
        latest = years[-1] if years else date.today().year
        return {
            "years": years,
            "months": months,
            "counties": self.counties(),
            "default_period": str(latest),
            "default_baseline": self.default_baseline(latest),
            "has_speech_figures_mart": self.has_table(self.marts, SPEECH_MART),
        }

    def latest_year(self) -> int:
        """The latest year with collections (this year when there are none yet)."""
        latest = self.scalar(f"select max(collected_year) from {self.marts}.collections_yearly")
        return int(latest) if latest else date.today().year

    def default_baseline(self, year: int) -> int | None:
        baseline = self.scalar(
            f"select any(baseline_year) from {self.marts}.supply_demand_yearly "
            f"where component_type = 'all' and supply_year = {{y:UInt16}}",
            y=year,
        )
        if baseline is not None and baseline != year:
            return int(baseline)
        earlier = self.scalar(
            f"select max(collected_year) from {self.marts}.collections_yearly "
            f"where collected_year < {{y:UInt16}}",
            y=year,
        )
        return int(earlier) if earlier else None

    # ---- headline figures ----------------------------------------------------------------
    def _collected(self, period: Period, county: str | None) -> dict[str, float]:
        row = self.rows(
            f"select sum(donations) as donations, sum(units) as units, "
            f"sum(first_time_donations) as first_time "
            f"from {self.marts}.collections_monthly "
            f"where collected_month >= {{s:Date}} and collected_month < {{e:Date}}"
            + self._county_clause(county),
            s=period.start,
            e=period.end,
            county=county,
        )[0]
        return {k: float(v or 0) for k, v in row.items()}

    def _transfused(self, period: Period, county: str | None) -> float:
        # Clinical use = units transfused of the component types that count toward total
        # demand (seed component_types), as supply_demand_yearly counts them.
        value = self.scalar(
            f"select sum(transfused_units) from {self.marts}.clinical_use_monthly "
            f"where use_month >= {{s:Date}} and use_month < {{e:Date}} "
            f"and component_type in (select component_type from {self.ref}.component_types "
            f"where counts_toward_total_demand = 1)" + self._county_clause(county),
            s=period.start,
            e=period.end,
            county=county,
        )
        return float(value or 0)

    def _wastage(self, period: Period, county: str | None) -> tuple[float, float | None]:
        """(units discarded, wastage rate %) in the period. The city: wastage_monthly's
        all-causes rows (rate = units discarded / units produced). A county: units discarded
        at its facilities (wastage_by_facility_monthly); for a whole year its rate is the
        scorecard's (discards of what its sites collected / what they produced)."""
        if county is None:
            row = self.rows(
                f"select sum(discarded_units) as discarded, sum(produced_units) as produced "
                f"from {self.marts}.wastage_monthly where cause = {{all:String}} "
                f"and waste_month >= {{s:Date}} and waste_month < {{e:Date}}",
                all=ALL_CAUSES,
                s=period.start,
                e=period.end,
            )[0]
            discarded, produced = float(row["discarded"] or 0), float(row["produced"] or 0)
            return discarded, round(discarded / produced * 100, 2) if produced else None
        discarded = self.scalar(
            f"select sum(discarded_units) from {self.marts}.wastage_by_facility_monthly "
            f"where waste_month >= {{s:Date}} and waste_month < {{e:Date}} "
            f"and county_code = {{county:String}}",
            s=period.start,
            e=period.end,
            county=county,
        )
        rate = None
        if period.month is None:
            rate = self.scalar(
                f"select any(wastage_rate_pct) from {self.marts}.county_scorecard "
                f"where score_year = {{y:UInt16}} and county_code = {{county:String}}",
                y=period.year,
                county=county,
            )
        return float(discarded or 0), rate

    @staticmethod
    def _growth(now: float, then: float) -> float | None:
        return round((now / then - 1) * 100, 2) if then else None

    def headline(self, period: Period, county: str | None, baseline: int | None) -> dict[str, Any]:
        collected = self._collected(period, county)
        transfused = self._transfused(period, county)
        discarded, wastage_rate = self._wastage(period, county)
        out: dict[str, Any] = {
            "period": str(period),
            "county": county,
            "baseline_year": baseline,
            "donations": int(collected["donations"]),
            "first_time_donations": int(collected["first_time"]),
            "units_collected": round(collected["units"], 3),
            "clinical_use_units": round(transfused, 3),
            "gap_units": round(transfused - collected["units"], 3),
            "discarded_units": round(discarded, 3),
            "wastage_rate_pct": wastage_rate,
            "donations_growth_pct": None,
            "collection_growth_pct": None,
            "clinical_use_growth_pct": None,
        }
        if baseline is not None and baseline != period.year:
            before = period.shifted_to(baseline)
            base = self._collected(before, county)
            out["baseline_donations"] = int(base["donations"])
            out["baseline_units_collected"] = round(base["units"], 3)
            out["baseline_clinical_use_units"] = round(self._transfused(before, county), 3)
            out["donations_growth_pct"] = self._growth(collected["donations"], base["donations"])
            out["collection_growth_pct"] = self._growth(collected["units"], base["units"])
            out["clinical_use_growth_pct"] = self._growth(
                transfused, out["baseline_clinical_use_units"]
            )
        supply = self.red_cell_supply(period)
        out["red_cell_days_of_supply"] = supply["days_of_supply"]
        out["red_cell_warning_level"] = supply["warning_level"]
        out["red_cell_stock_date"] = supply["stock_date"]
        out["open_alerts"] = self.open_alerts_by_severity(period)
        return out

    def red_cell_supply(self, period: Period) -> dict[str, Any]:
        """City red-cell days of supply on the last stock day of the period: all red-cell
        units available / mean daily issue, with the level of the seed's thresholds."""
        rows = self.rows(
            f"with last as (select max(stock_date) from {self.marts}.inventory_daily "
            f"where stock_date < {{e:Date}}) "
            f"select stock_date, sum(available_units) as available, "
            f"sum(mean_daily_issue) as mean_issue "
            f"from {self.marts}.inventory_daily where stock_date = (select * from last) "
            f"and component_type = {{c:String}} group by stock_date",
            e=period.end,
            c=RED_CELLS,
        )
        if not rows or not rows[0]["mean_issue"]:
            return {
                "stock_date": rows[0]["stock_date"] if rows else None,
                "days_of_supply": None,
                "warning_level": None,
            }
        days = rows[0]["available"] / rows[0]["mean_issue"]
        return {
            "stock_date": rows[0]["stock_date"],
            "days_of_supply": round(days, 2),
            "warning_level": self.level_of(RED_CELLS, days),
        }

    def warning_levels(self) -> list[dict[str, Any]]:
        return self.rows(
            f"select component_type, level, level_rank, min_days, max_days, label_zh, label_en "
            f"from {self.ref}.inventory_warning_levels order by component_type, level_rank"
        )

    def level_of(self, component_type: str, days: float) -> str | None:
        for level in self.warning_levels():
            if level["component_type"] == component_type and days >= float(level["min_days"]):
                return str(level["level"])
        levels = [lv for lv in self.warning_levels() if lv["component_type"] == component_type]
        return str(levels[-1]["level"]) if levels else None

    # ---- alerts and findings ---------------------------------------------------------------
    def open_alerts_by_severity(self, period: Period | None = None) -> dict[str, int]:
        """Alerts raised (event time) in the OPEN_ALERT_DAYS before the newest alert (or before
        the period's end), by severity."""
        end_clause = " where occurred_at < {e:DateTime64(3)}" if period else ""
        params = {"e": datetime.combine(period.end, datetime.min.time())} if period else {}
        rows = self.rows(
            f"with (select max(occurred_at) from {self.db}.alerts{end_clause}) as newest "
            f"select severity, uniqExact(alert_id) as n from {self.db}.alerts "
            f"where occurred_at > newest - interval {OPEN_ALERT_DAYS} day "
            f"and occurred_at <= newest group by severity",
            **params,
        )
        counts = {s: 0 for s in SEVERITIES}
        counts.update({r["severity"]: int(r["n"]) for r in rows})
        return counts

    def alerts(
        self,
        *,
        severity: str | None = None,
        rule: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        facility: str | None = None,
        din: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        where = (
            Where(params={"limit": limit, "offset": offset})
            .equal("severity", severity)
            .equal("rule", rule)
            .equal("facility_id", facility)
            .equal("din", din)
            .since("occurred_at", since, kind="DateTime64(3)")
            .until("occurred_at", until, kind="DateTime64(3)")
        )
        condition, params = where.sql, where.params
        # The same alert raised again (after a replay) has the same alert_id: show it once.
        total = self.scalar(
            f"select uniqExact(alert_id) from {self.db}.alerts where {condition}", **params
        )
        items = self.rows(
            f"select alert_id, any(rule) as rule, any(severity) as severity, "
            f"any(subject) as subject, any(message_zh) as message_zh, "
            f"any(message_en) as message_en, min(occurred_at) as occurred_at, "
            f"min(raised_at) as raised_at, any(din) as din, any(product_code) as product_code, "
            f"any(facility_id) as facility_id, any(equipment_id) as equipment_id "
            f"from (select * from {self.db}.alerts where {condition}) group by alert_id "
            f"order by occurred_at desc, alert_id limit {{limit:UInt32}} offset {{offset:UInt32}}",
            **params,
        )
        return {"total": int(total or 0), "limit": limit, "offset": offset, "items": items}

    def findings(
        self,
        *,
        severity: str | None = None,
        check: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        """Quality findings of the latest run, newest event first."""
        run_id = self.scalar(
            f"select run_id from {self.db}.quality_runs order by started_at desc limit 1"
        )
        if run_id is None:
            return {"run_id": None, "total": 0, "limit": limit, "offset": offset, "items": []}
        found = (
            Where(
                ["run_id = {run_id:String}"], {"run_id": run_id, "limit": limit, "offset": offset}
            )
            .equal("severity", severity)
            .equal("check_name", check, name="check")
        )
        where, params = found.sql, found.params
        total = self.scalar(
            f"select count() from {self.db}.quality_findings where {where}", **params
        )
        items = self.rows(
            f"select check_name, suite, severity, din, product_code, facility_id, cause, "
            f"message_zh, message_en, occurred_at, found_at from {self.db}.quality_findings "
            f"where {where} order by occurred_at desc nulls last, check_name, din "
            f"limit {{limit:UInt32}} offset {{offset:UInt32}}",
            **params,
        )
        by_severity = {s: 0 for s in SEVERITIES}
        for r in self.rows(
            f"select severity, count() as n from {self.db}.quality_findings "
            f"where run_id = {{run_id:String}} group by severity",
            run_id=run_id,
        ):
            by_severity[r["severity"]] = int(r["n"])
        return {
            "run_id": run_id,
            "total": int(total or 0),
            "by_severity": by_severity,
            "limit": limit,
            "offset": offset,
            "items": items,
        }

    # ---- speech figures --------------------------------------------------------------------
    def speech(self, year: int, baseline: int | None) -> dict[str, Any]:
        """``speech_figures`` with the ``sentences`` in Chinese and English."""
        from api.dashboard.speech import speech_sentences

        out = self.speech_figures(year, baseline)
        out["sentences"] = {lang: speech_sentences(out, lang) for lang in ("zh", "en")}
        return out

    def speech_figures(self, year: int, baseline: int | None) -> dict[str, Any]:
        """The blanks of the city speech, filled: from the ``speech_figures_by_year`` mart
        when it holds the year and baseline, else computed here from the other marts."""
        if baseline is not None and self.has_table(self.marts, SPEECH_MART):
            rows = self.rows(
                f"select figure, value, then_value from {self.marts}.{SPEECH_MART} "
                f"where figure_year = {{y:UInt32}} and baseline_year = {{b:UInt32}}",
                y=year,
                b=baseline,
            )
            if rows:
                now = {r["figure"]: r["value"] for r in rows}
                then = {r["figure"]: r["then_value"] for r in rows}

                def pair(figure: str) -> dict[str, Any]:
                    return {str(baseline): then.get(figure), str(year): now.get(figure)}

                return {
                    "source": SPEECH_MART,
                    "year": year,
                    "baseline_year": baseline,
                    "figures": {
                        "clinical_use_units": now.get("clinical_use_units"),
                        "clinical_use_growth_pct": now.get("clinical_use_growth_pct"),
                        "collection_growth_pct": now.get("collection_growth_pct"),
                        "discarded_units": now.get("discarded_storage_and_test_units"),
                        "student_share_pct": pair("student_share_pct"),
                        "employee_share_pct": pair("employee_share_pct"),
                        "ever_donated_pct": now.get("eligible_ever_donated_pct"),
                        "never_donated_pct": now.get("eligible_never_donated_pct"),
                    },
                }
        period = Period(year)
        head = self.headline(period, None, baseline)
        shares = self.group_shares([y for y in (baseline, year) if y is not None])
        penetration = self.scalar(
            f"select sum(donors_to_date) / nullIf(sum(eligible_population), 0) * 100 "
            f"from {self.marts}.donor_penetration_county where activity_year = {{y:UInt16}}",
            y=year,
        )
        return {
            "source": "marts",
            "year": year,
            "baseline_year": baseline,
            "figures": {
                "clinical_use_units": head["clinical_use_units"],
                "clinical_use_growth_pct": head["clinical_use_growth_pct"],
                "collection_growth_pct": head["collection_growth_pct"],
                "discarded_units": head["discarded_units"],
                "student_share_pct": {
                    str(y): shares.get((y, "student")) for y in shares_years(baseline, year)
                },
                "employee_share_pct": {
                    str(y): shares.get((y, "employee")) for y in shares_years(baseline, year)
                },
                "ever_donated_pct": round(float(penetration), 2) if penetration else None,
                "never_donated_pct": round(100 - float(penetration), 2) if penetration else None,
            },
        }

    def group_shares(self, years: list[int]) -> dict[tuple[int, str], float]:
        """Share of each donor group in the year's donations (percent)."""
        if not years:
            return {}
        rows = self.rows(
            f"select toYear(activity_month) as y, donor_group, sum(donations) as n "
            f"from {self.marts}.donor_structure_monthly where y in {{years:Array(UInt16)}} "
            f"group by y, donor_group",
            years=years,
        )
        totals: dict[int, float] = {}
        for r in rows:
            totals[r["y"]] = totals.get(r["y"], 0) + r["n"]
        return {(r["y"], r["donor_group"]): round(r["n"] / totals[r["y"]] * 100, 2) for r in rows}

    # ---- supply and demand over time -------------------------------------------------------
    def supply_demand(self, county: str | None) -> dict[str, Any]:
        """Units collected and transfused per month (all months), with the gap."""
        collected = {
            r["m"]: r["units"]
            for r in self.rows(
                f"select collected_month as m, sum(units) as units "
                f"from {self.marts}.collections_monthly where 1"
                + self._county_clause(county)
                + " group by m",
                county=county,
            )
        }
        used = {
            r["m"]: r["units"]
            for r in self.rows(
                f"select use_month as m, sum(transfused_units) as units "
                f"from {self.marts}.clinical_use_monthly where component_type in "
                f"(select component_type from {self.ref}.component_types "
                f"where counts_toward_total_demand = 1)"
                + self._county_clause(county)
                + " group by m",
                county=county,
            )
        }
        months = sorted(set(collected) | set(used))
        series = [
            {
                "month": m[:7],
                "collected_units": round(collected.get(m, 0.0), 3),
                "clinical_use_units": round(used.get(m, 0.0), 3),
                "gap_units": round(used.get(m, 0.0) - collected.get(m, 0.0), 3),
            }
            for m in months
        ]
        yearly = self.rows(
            f"select supply_year, baseline_year, supply_units, demand_units, gap_units, "
            f"supply_growth_pct, demand_growth_pct, growth_gap_pct_points "
            f"from {self.marts}.supply_demand_yearly where component_type = 'all' "
            f"order by supply_year"
        )
        return {"county": county, "monthly": series, "yearly_city": yearly}

    # ---- inventory -------------------------------------------------------------------------
    def inventory(self, period: Period) -> dict[str, Any]:
        """Days of supply per ABO/RhD x component on the period's last stock day, and the
        red-cell history over the period with the warning lines."""
        now = self.rows(
            f"with last as (select max(stock_date) from {self.marts}.inventory_daily "
            f"where stock_date < {{e:Date}}) "
            f"select stock_date, abo_rh, component_type, available_units, mean_daily_issue, "
            f"days_of_supply, warning_level, warning_level_zh "
            f"from {self.marts}.inventory_daily where stock_date = (select * from last) "
            f"order by component_type, abo_rh",
            e=period.end,
        )
        history = self.rows(
            f"select stock_date, abo_rh, days_of_supply, warning_level "
            f"from {self.marts}.inventory_daily where component_type = {{c:String}} "
            f"and stock_date >= greatest({{s:Date}}, {{last:Date}} - {HISTORY_DAYS}) "
            f"and stock_date <= {{last:Date}} order by stock_date, abo_rh",
            c=RED_CELLS,
            s=period.start,
            last=now[0]["stock_date"] if now else period.end,
        )
        return {
            "scope": "city",
            "stock_date": now[0]["stock_date"] if now else None,
            "now": now,
            "history_component": RED_CELLS,
            "history": history,
            "levels": self.warning_levels(),
        }

    # ---- wastage ---------------------------------------------------------------------------
    def wastage(self, period: Period, county: str | None) -> dict[str, Any]:
        # Every breakdown from one mart (by facility, with its county), so they add up.
        base = (
            f"from {self.marts}.wastage_by_facility_monthly where waste_month >= {{s:Date}} "
            f"and waste_month < {{e:Date}}" + self._county_clause(county)
        )
        args = {"s": period.start, "e": period.end, "county": county}
        by_cause = self.rows(
            f"select w.cause as cause, any(c.label_zh) as label_zh, any(c.label_en) as label_en, "
            f"sum(w.discarded_units) as units, sum(w.discarded_components) as components "
            f"from (select * {base}) as w left join {self.ref}.discard_causes as c "
            f"on c.cause = w.cause group by w.cause order by units desc, cause",
            **args,
        )
        total = sum(r["units"] for r in by_cause) or 0.0
        running = 0.0
        for r in by_cause:
            running += r["units"]
            r["cumulative_pct"] = round(running / total * 100, 2) if total else None
        by_component = self.rows(
            f"select w.component_type as component_type, any(t.label_zh) as label_zh, "
            f"any(t.label_en) as label_en, sum(w.discarded_units) as units "
            f"from (select * {base}) as w left join {self.ref}.component_types as t "
            f"on t.component_type = w.component_type group by w.component_type "
            f"order by units desc",
            **args,
        )
        by_facility = self.rows(
            f"select w.facility_id as facility_id, any(f.facility_name) as facility_name, "
            f"any(w.facility_kind) as facility_kind, any(w.county_code) as county_code, "
            f"sum(w.discarded_units) as units "
            f"from (select * {base}) as w left join {self.marts}.dim_facilities as f "
            f"on f.facility_id = w.facility_id group by w.facility_id order by units desc",
            **args,
        )
        return {
            "period": str(period),
            "county": county,
            "total_units": round(total, 3),
            "by_cause": by_cause,
            "by_component": by_component,
            "by_facility": by_facility,
        }

    # ---- donors ----------------------------------------------------------------------------
    def donors(self, period: Period, county: str | None) -> dict[str, Any]:
        """Donor structure per month (city-wide: the mart has no county), and penetration of
        the eligible population per county and year."""

        def monthly(dimension: str) -> list[dict[str, Any]]:
            return self.rows(
                f"select activity_month as month, {dimension} as key, sum(donations) as donations "
                f"from {self.marts}.donor_structure_monthly where activity_month < {{e:Date}} "
                f"group by month, key order by month, key",
                e=period.end,
            )

        groups = self.rows(f"select donor_group, label_zh, label_en from {self.ref}.donor_groups")
        penetration = self.rows(
            f"select activity_year, county_code, county_name, eligible_population, donors_in_year,"
            f" new_donors, donors_to_date, annual_donor_rate_pct, penetration_pct "
            f"from {self.marts}.donor_penetration_county where activity_year <= {{y:UInt16}}"
            + self._county_clause(county)
            + " order by activity_year, county_code",
            y=period.year,
            county=county,
        )
        return {
            "scope": "city",
            "by_group": monthly("donor_group"),
            "by_type": monthly("donor_type"),
            "by_age_band": monthly("age_band"),
            "group_labels": groups,
            "penetration": penetration,
        }

    # ---- counties --------------------------------------------------------------------------
    def scorecard(self, year: int) -> dict[str, Any]:
        """The county assessment (county_scorecard) with the service network's sites."""
        rows = self.rows(
            f"select s.county_code as county_code, s.county_name as county_name, "
            f"s.population as population, s.baseline_year as baseline_year, "
            f"s.donations as donations, s.donations_per_1000 as donations_per_1000, "
            f"s.growth_pct as growth_pct, s.repeat_donor_share_pct as repeat_donor_share_pct, "
            f"s.penetration_pct as penetration_pct, s.wastage_rate_pct as wastage_rate_pct, "
            f"s.days_below_line_pct as days_below_line_pct, s.overall_rank as overall_rank, "
            f"s.overall_note as overall_note, s.rank_donations as rank_donations, "
            f"n.sites as sites, n.sites_per_10k_residents as sites_per_10k_residents, "
            f"n.access_rank as access_rank "
            f"from {self.marts}.county_scorecard as s left join "
            f"(select * from {self.marts}.service_network_county "
            f"where service_year = {{y:UInt16}}) as n on n.county_code = s.county_code "
            f"where s.score_year = {{y:UInt16}} "
            f"order by overall_rank is null, overall_rank, county_code",
            y=year,
        )
        return {"year": year, "counties": rows}

    def county_detail(self, county: str, year: int) -> dict[str, Any]:
        """A county's donation sites and hospitals in the year (the map's drill-down)."""
        self.check_county(county)
        sites = self.rows(
            f"select s.site_id as site_id, s.site_name as site_name, s.site_kind as site_kind, "
            f"k.label_zh as site_kind_zh, k.label_en as site_kind_en, "
            f"ifNull(a.donations, 0) as donations, ifNull(a.units, 0) as units, "
            f"ifNull(a.active_days, 0) as active_days "
            f"from {self.ref}.sites as s left join (select * from {self.marts}.site_activity_yearly"
            f" where activity_year = {{y:UInt16}}) as a on a.site_id = s.site_id "
            f"left join {self.ref}.site_kinds as k on k.site_kind = s.site_kind "
            f"where s.county_code = {{county:String}} order by donations desc, site_id",
            y=year,
            county=county,
        )
        hospitals = self.rows(
            f"select h.facility_id as hospital_id, h.hospital_name as hospital_name, "
            f"h.level as level, ifNull(u.units, 0) as transfused_units, "
            f"ifNull(u.recipients, 0) as recipients "
            f"from {self.ref}.hospitals as h left join (select hospital_id, "
            f"sum(transfused_units) as units, sum(recipients) as recipients "
            f"from {self.marts}.clinical_use_monthly where use_year = {{y:UInt16}} "
            f"group by hospital_id) as u on u.hospital_id = h.facility_id "
            f"where h.county_code = {{county:String}} order by transfused_units desc",
            y=year,
            county=county,
        )
        return {"county_code": county, "year": year, "sites": sites, "hospitals": hospitals}

    # ---- campaigns and honours -------------------------------------------------------------
    def campaigns(self, year: int, county: str | None) -> dict[str, Any]:
        uplift = self.rows(
            f"select campaign_name, campaign_on, window_start, window_end, donations, units, "
            f"previous_year_donations, previous_year_units, uplift_pct "
            f"from {self.marts}.campaign_uplift where toYear(campaign_on) <= {{y:UInt16}} "
            f"order by campaign_on desc",
            y=year,
        )
        honours = self.rows(
            f"select honour_level, any(honour_level_zh) as honour_level_zh, "
            f"any(level_rank) as level_rank, sum(donors) as donors "
            f"from {self.marts}.honours_by_county where 1"
            + self._county_clause(county)
            + " group by honour_level order by level_rank",
            county=county,
        )
        return {"campaigns": uplift, "honours": honours}


def shares_years(baseline: int | None, year: int) -> list[int]:
    return [y for y in (baseline, year) if y is not None]
