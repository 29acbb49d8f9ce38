"""dbt on a real chDB warehouse: simulated events in, `dbt build`, marts checked by hand.

One warehouse for the module: three simulated weeks of the small city in June 2024 and in
June 2025 (so growth has a baseline year and 14 June a previous-year window), plus three
hand-made devoted donors with 22, 31 and 41 donations in 2023 (bronze, silver, gold). All
but the last simulated day are loaded and built; then the last day arrives and the platform's
scheduled build runs incrementally; the marts must equal a full refresh. Every figure is
recomputed from the wire events in plain Python.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import events_factory
import pytest
from fastapi.testclient import TestClient
from harness import without_platform_auth

from api.app import create_api
from api.routes.dbt import dbt_settings
from infra.dbt_runner import DbtResult, run_dbt, scheduled_dbt_build
from infra.settings import Settings
from infra.warehouse import connect, migrate
from models.isbt128 import make_din
from simulation import PRESETS, simulate
from streams.sinks.warehouse import load_direct

pytestmark = pytest.mark.integration

LOCAL = ZoneInfo("Asia/Shanghai")
KEY = b"dbt-test-key"
WINDOW_DAYS = 21
LATE_TYPES = {"unit.received", "unit.issued", "unit.released", "unit.discarded"}
DATABASE = "dbt_it"
MARTS = f"{DATABASE}_marts"
MART_TABLES = [
    "collections_daily",
    "collections_monthly",
    "collections_yearly",
    "supply_demand_yearly",
    "campaign_uplift",
    "clinical_use_monthly",
    "hemovigilance_monthly",
    "inventory_daily",
    "inventory_days_below_level",
    "wastage_monthly",
    "wastage_by_facility_monthly",
    "test_discards_monthly",
    "hospital_supply_daily",
    "speech_figures_by_year",
    "speech_figures",
    "donor_structure_monthly",
    "donor_retention_yearly",
    "donor_penetration_county",
    "donor_honours",
    "honours_by_county",
    "donor_reimbursement",
    "service_network_county",
    "site_activity_yearly",
    "county_scorecard",
]


# ---- the data ----------------------------------------------------------------------------
def devoted_donors() -> list[dict[str, Any]]:
    """Three donors with 22, 31 and 41 whole-blood donations of 200 ml on 1 June 2023."""
    return events_factory.devoted_donors(datetime(2023, 6, 1, 9, 0, tzinfo=LOCAL), KEY)


def all_events() -> list[dict[str, Any]]:
    events = devoted_donors()
    for year in (2024, 2025):
        events += simulate(
            PRESETS["small"],
            start=date(year, 6, 1),
            days=WINDOW_DAYS,
            seed=year,  # one seed a year: event ids must differ
            pseudonym_key=KEY,
        )
    return events


def local_day(event: dict[str, Any]) -> date:
    return (
        datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00")).astimezone(LOCAL).date()
    )


def when(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))


class City:
    """The wire events, indexed for hand computations."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in events:
            self.by_type[event["type"]].append(event)
        self.donations = {e["payload"]["din"][:13]: e for e in self.by_type["donation.collected"]}
        self.components: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for e in self.by_type["component.produced"]:
            self.components[e["payload"]["din"][:13]][e["payload"]["product_code"]] = e

    @staticmethod
    def collection_units(p: dict[str, Any]) -> float:
        if p["donation_kind"] == "apheresis_platelets":
            return float(p["therapeutic_units"])
        return p["volume_ml"] / 200

    def component_units(self, din: str, product_code: str) -> float:
        donation = self.donations[din]["payload"]
        if donation["donation_kind"] == "apheresis_platelets":
            return 1.0
        return donation["volume_ml"] / 200

    def component_type(self, din: str, product_code: str) -> str:
        return str(self.components[din][product_code]["payload"]["component_type"])

    def targets(self, event: dict[str, Any]) -> list[str]:
        """Product codes an event applies to ('' = every component of its DIN)."""
        code = event["payload"].get("product_code") or ""
        din = event["payload"]["din"][:13]
        return [code] if code else list(self.components[din])


@dataclass
class Built:
    settings: Settings
    city: City
    first: DbtResult
    scheduled: dict[str, Any]
    incremental_marts: dict[str, list[tuple[Any, ...]]]
    last_day: date
    late_events: int
    cancelled_rows: int


def query(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    client = connect(settings)
    try:
        return list(client.query(sql).result_rows)
    finally:
        client.close()


def snapshot(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    client = connect(settings)
    try:
        return {
            table: sorted(client.query(f"select * from {MARTS}.{table}").result_rows, key=repr)
            for table in MART_TABLES
        }
    finally:
        client.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, warehouse_dsn: str) -> Iterator[Built]:
    # chDB binds one directory per process for its whole life: share the session's, with
    # databases of this module's own (dbt adds _staging, _marts, ... to the name).
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("dbt"),
        warehouse_url=warehouse_dsn,
        warehouse_database=DATABASE,
    )
    city = City(all_events())
    last_day = date(2025, 6, WINDOW_DAYS)
    client = connect(settings)
    migrate(client)
    # The last day arrives after the first build, and with it a few events that happened days
    # earlier (a receipt or an issue a hospital sent late): their units already have later
    # movements in the ledger, so the run must cancel and replace those.
    held_back = {
        e["event_id"]
        for i, e in enumerate(city.events)
        if e["type"] in LATE_TYPES and i % 40 == 0 and local_day(e) < last_day - timedelta(days=3)
    }
    early = [e for e in city.events if local_day(e) < last_day and e["event_id"] not in held_back]
    late = [e for e in city.events if local_day(e) >= last_day or e["event_id"] in held_back]
    assert late and held_back, "the last simulated day and some late events"
    assert load_direct(client, early) == (len(early), 0)
    client.close()

    first = run_dbt(settings, ["build"])

    client = connect(settings)
    assert load_direct(client, late) == (len(late), 0)
    client.close()
    scheduled = scheduled_dbt_build(settings)  # incremental: only the new day's units
    incremental_marts = snapshot(settings)
    [(cancelled_rows,)] = query(
        settings, f"select countIf(sign < 0) from {MARTS}.fct_unit_movements"
    )
    refreshed = run_dbt(settings, ["run", "--full-refresh"], quiet=True)
    assert refreshed.success, refreshed.failed
    yield Built(
        settings,
        city,
        first,
        scheduled,
        incremental_marts,
        last_day,
        len(held_back),
        cancelled_rows,
    )


# ---- the build ---------------------------------------------------------------------------
def test_dbt_build_passes_every_model_data_test_and_unit_test(built: Built) -> None:
    result = built.first
    assert result.success, [(n.name, n.status, n.message) for n in result.failed]
    by_type: dict[str, int] = defaultdict(int)
    for node in result.nodes:
        by_type[node.resource_type] += 1
    assert by_type["model"] >= 50
    assert by_type["seed"] == 16
    assert by_type["test"] >= 200
    assert by_type["unit_test"] == 13
    assert all(n.status in ("success", "pass") for n in result.nodes)
    assert sum(n.seconds for n in result.nodes) > 0


def test_scheduled_build_runs_incrementally_and_matches_a_full_refresh(built: Built) -> None:
    """Including the units whose late events made ledger rows stale."""
    assert built.scheduled["success"] is True
    assert built.scheduled["counts"].get("pass", 0) >= 200
    assert "unit_test" not in built.scheduled["resource_types"]  # production skips unit tests
    refreshed = snapshot(built.settings)
    for table in MART_TABLES:
        assert built.incremental_marts[table] == refreshed[table], table


def test_incremental_facts_hold_each_event_once(built: Built) -> None:
    donations = len(built.city.by_type["donation.collected"])
    rows = query(
        built.settings,
        f"select count(), uniqExact(din) from {MARTS}.fct_donations",
    )
    assert rows == [(donations, donations)]
    # The late events made ledger rows stale: the incremental run cancelled them (sign -1).
    assert built.cancelled_rows > 0


# ---- marts against hand computations -------------------------------------------------------
def test_collections_by_day_site_group_and_kind(built: Built) -> None:
    expected: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0, 0.0])
    for e in built.city.by_type["donation.collected"]:
        p = e["payload"]
        key = (
            local_day(e),
            p["county_code"],
            p["site_id"],
            p["site_kind"],
            p["donor_group"],
            p["donation_kind"],
        )
        expected[key][0] += 1
        expected[key][1] += built.city.collection_units(p)
    rows = query(
        built.settings,
        f"select collected_on, county_code, site_id, site_kind, donor_group, donation_kind, "
        f"donations, units from {MARTS}.collections_daily",
    )
    got = {tuple(r[:6]): (r[6], r[7]) for r in rows}
    assert got.keys() == expected.keys()
    for key, (donations, units) in expected.items():
        assert got[key] == (donations, pytest.approx(units, abs=0.006)), key
    yearly = dict(
        query(
            built.settings,
            f"select collected_year, sum(donations) from {MARTS}.collections_yearly group by 1",
        )
    )
    assert yearly[2023] == 22 + 31 + 41


def test_clinical_use_by_hospital_month_and_component(built: Built) -> None:
    city = built.city
    expected: dict[tuple[Any, ...], float] = defaultdict(float)
    for e in city.by_type["unit.transfused"]:
        din = e["payload"]["din"][:13]
        for code in city.targets(e):
            day = local_day(e)
            key = (day.replace(day=1), e["facility_id"], city.component_type(din, code))
            expected[key] += city.component_units(din, code)
    rows = query(
        built.settings,
        f"select use_month, hospital_id, component_type, transfused_units "
        f"from {MARTS}.clinical_use_monthly where transfused_components > 0",
    )
    got = {tuple(r[:3]): r[3] for r in rows}
    assert got.keys() == expected.keys()
    for key, units in expected.items():
        assert got[key] == pytest.approx(units, abs=0.006), key


def test_supply_and_demand_growth_against_the_baseline_year(built: Built) -> None:
    city = built.city
    supply: dict[int, float] = defaultdict(float)
    for e in city.by_type["donation.collected"]:
        supply[local_day(e).year] += city.collection_units(e["payload"])
    demand: dict[int, float] = defaultdict(float)
    counted = {"whole_blood", "red_cells", "washed_red_cells", "platelets"}
    for e in city.by_type["unit.transfused"]:
        din = e["payload"]["din"][:13]
        for code in city.targets(e):
            if city.component_type(din, code) in counted:
                demand[local_day(e).year] += city.component_units(din, code)
    rows = query(
        built.settings,
        f"select supply_year, baseline_year, supply_units, demand_units, supply_growth_pct, "
        f"demand_growth_pct, gap_units from {MARTS}.supply_demand_yearly "
        f"where component_type = 'all' order by supply_year",
    )
    # 2023 has the devoted donors' collections but no transfusions: the baseline is 2024.
    assert [r[0] for r in rows] == [2023, 2024, 2025]
    assert {r[1] for r in rows} == {2024}
    row_2025 = rows[2]
    assert row_2025[2] == pytest.approx(supply[2025], abs=0.006)
    assert row_2025[3] == pytest.approx(demand[2025], abs=0.006)
    assert row_2025[4] == pytest.approx((supply[2025] / supply[2024] - 1) * 100, abs=0.006)
    assert row_2025[5] == pytest.approx((demand[2025] / demand[2024] - 1) * 100, abs=0.006)
    assert row_2025[6] == pytest.approx(demand[2025] - supply[2025], abs=0.01)


def _available_at(city: City, moment: datetime) -> dict[tuple[str, str], float]:
    """(ABO/RhD, component type) -> units available anywhere at ``moment``, replayed per unit:
    produced and released, not expired, and its latest movement none, a receipt or a return."""
    released = {e["payload"]["din"][:13]: when(e) for e in city.by_type["unit.released"]}
    latest: dict[tuple[str, str], tuple[datetime, str]] = {}
    moves = (
        "unit.shipped",
        "unit.received",
        "unit.issued",
        "unit.returned",
        "unit.transfused",
        "unit.discarded",
    )
    rank = {name: i for i, name in enumerate(moves)}
    for name in moves:
        for e in city.by_type[name]:
            if when(e) > moment:
                continue
            din = e["payload"]["din"][:13]
            for code in city.targets(e):
                key = (din, code)
                if key not in latest or (when(e), rank[name]) > (
                    latest[key][0],
                    rank[latest[key][1]],
                ):
                    latest[key] = (when(e), name)
    stock: dict[tuple[str, str], float] = defaultdict(float)
    for din, products in city.components.items():
        for code, produced in products.items():
            p = produced["payload"]
            expires = datetime.fromisoformat(p["expires_at"].replace("Z", "+00:00"))
            if when(produced) > moment or din not in released or released[din] > moment:
                continue
            if expires <= moment:
                continue
            last = latest.get((din, code))
            if last is None or last[1] in ("unit.received", "unit.returned"):
                stock[(p["abo_rh"], p["component_type"])] += city.component_units(din, code)
    return stock


def test_days_of_supply_and_warning_level(built: Built) -> None:
    city = built.city
    day = built.last_day
    end_of_day = datetime.combine(day + timedelta(days=1), datetime.min.time(), LOCAL)
    stock = _available_at(city, end_of_day)
    issued: dict[tuple[str, str], float] = defaultdict(float)
    for e in city.by_type["unit.issued"]:
        if day - timedelta(days=6) <= local_day(e) <= day:
            din = e["payload"]["din"][:13]
            for code in city.targets(e):
                group = city.components[din][code]["payload"]["abo_rh"]
                issued[(group, city.component_type(din, code))] += city.component_units(din, code)
    rows = query(
        built.settings,
        f"select abo_rh, component_type, available_units, mean_daily_issue, days_of_supply, "
        f"warning_level from {MARTS}.inventory_daily where stock_date = '{day}'",
    )
    assert rows
    levels = [(7, "normal"), (5, "tight"), (3, "short"), (0, "critical")]
    checked = 0
    for group, component, available, mean_issue, days, level in rows:
        assert available == pytest.approx(stock[(group, component)], abs=0.01), (group, component)
        expected_mean = issued[(group, component)] / 7
        assert mean_issue == pytest.approx(expected_mean, abs=0.001)
        if component == "red_cells" and expected_mean > 0:
            expected_days = available / expected_mean
            assert days == pytest.approx(expected_days, abs=0.01)
            assert level == next(name for floor, name in levels if expected_days >= floor)
            checked += 1
    assert checked >= 4  # red cells of several groups were issued that week


def test_wastage_by_cause_component_and_facility(built: Built) -> None:
    city = built.city
    expected: dict[tuple[Any, ...], float] = defaultdict(float)
    for e in city.by_type["unit.discarded"]:
        din = e["payload"]["din"][:13]
        day = local_day(e)
        codes = city.targets(e)
        if codes:
            for code in codes:
                key = (
                    day.replace(day=1),
                    e["facility_id"],
                    city.component_type(din, code),
                    e["payload"]["cause"],
                )
                expected[key] += city.component_units(din, code)
        else:  # the whole donation, before any component was made from it
            p = city.donations[din]["payload"]
            kind = {"apheresis_platelets": "platelets", "apheresis_plasma": "plasma"}
            key = (
                day.replace(day=1),
                e["facility_id"],
                kind.get(p["donation_kind"], "whole_blood"),
                e["payload"]["cause"],
            )
            expected[key] += city.collection_units(p)
    rows = query(
        built.settings,
        f"select waste_month, facility_id, component_type, cause, discarded_units "
        f"from {MARTS}.wastage_by_facility_monthly",
    )
    assert expected
    got = {tuple(r[:4]): r[4] for r in rows}
    assert got.keys() == expected.keys()
    for key, units in expected.items():
        assert got[key] == pytest.approx(units, abs=0.006), key


def test_reactions_per_10k_transfusions(built: Built) -> None:
    city = built.city
    transfusions: dict[date, int] = defaultdict(int)
    for e in city.by_type["unit.transfused"]:
        transfusions[local_day(e).replace(day=1)] += 1
    reactions: dict[tuple[date, str], int] = defaultdict(int)
    for e in city.by_type["transfusion.reaction_reported"]:
        reactions[(local_day(e).replace(day=1), e["payload"]["category"])] += 1
    rows = query(
        built.settings,
        f"select report_month, category, reactions, transfusions, "
        f"reactions_per_10k_transfusions from {MARTS}.hemovigilance_monthly",
    )
    assert len(rows) == len({m for m in transfusions}) * 10  # every category, every month
    for month, category, count, total, rate in rows:
        assert count == reactions.get((month, category), 0)
        assert total == transfusions[month]
        assert rate == pytest.approx(count / total * 10000, abs=0.006)


def test_honours_by_county(built: Built) -> None:
    rows = query(
        built.settings,
        f"select honour_level, donors from {MARTS}.honours_by_county where county_code = '610902'",
    )
    assert dict(rows) == {"bronze": 1, "silver": 1, "gold": 1, "lifetime": 0}
    levels = query(
        built.settings,
        f"select honour_count, honour_level from {MARTS}.donor_honours order by honour_count",
    )
    assert levels == [(22.0, "bronze"), (31.0, "silver"), (41.0, "gold")]


def test_campaign_window_against_the_previous_year(built: Built) -> None:
    city = built.city
    per_day: dict[date, int] = defaultdict(int)
    for e in city.by_type["donation.collected"]:
        per_day[local_day(e)] += 1

    def window(center: date) -> int:
        return sum(per_day[center + timedelta(days=d)] for d in range(-7, 8))

    rows = query(
        built.settings,
        f"select donations, previous_year_donations, uplift_pct from {MARTS}.campaign_uplift "
        f"where campaign_on = '2025-06-14'",
    )
    now, before = window(date(2025, 6, 14)), window(date(2024, 6, 14))
    assert rows == [(now, before, pytest.approx((now / before - 1) * 100, abs=0.006))]


# ---- rates and the speech's figures --------------------------------------------------------
STORAGE_CAUSES = {"cold_chain_breach", "returned_out_of_control", "hemolysis", "expired"}
DEMAND_TYPES = {"whole_blood", "red_cells", "washed_red_cells", "platelets"}


def _discarded_units(city: City, event: dict[str, Any]) -> float:
    din = event["payload"]["din"][:13]
    codes = city.targets(event)
    if codes:
        return sum(city.component_units(din, code) for code in codes)
    return city.collection_units(city.donations[din]["payload"])  # the whole donation


def expected_figures(city: City, year: int, baseline: int) -> dict[str, tuple[Any, Any]]:
    """The speech's figures from the wire events, by the definitions in
    dbt/models/marts/speech/_speech__models.yml: figure -> (value, then_value)."""
    collected: dict[int, float] = defaultdict(float)
    by_group: dict[tuple[int, str], float] = defaultdict(float)
    latest: dict[str, dict[str, Any]] = {}
    for e in sorted(city.by_type["donation.collected"], key=when):
        p, y = e["payload"], local_day(e).year
        collected[y] += city.collection_units(p)
        by_group[(y, p["donor_group"])] += city.collection_units(p)
        if y <= year:
            latest[p["donor_id"]] = e  # the donor's latest donation up to the year
    use: dict[int, float] = defaultdict(float)
    for e in city.by_type["unit.transfused"]:
        din = e["payload"]["din"][:13]
        for code in city.targets(e):
            if city.component_type(din, code) in DEMAND_TYPES:
                use[local_day(e).year] += city.component_units(din, code)
    storage = test = 0.0
    for e in city.by_type["unit.discarded"]:
        if local_day(e).year == year:
            if e["payload"]["cause"] in STORAGE_CAUSES:
                storage += _discarded_units(city, e)
            elif e["payload"]["cause"] == "test_reactive":
                test += _discarded_units(city, e)
    eligible_donors = sum(
        1
        for e in latest.values()
        if 18 <= e["payload"]["donor_age"] + (year - local_day(e).year) <= 55
    )
    seed = (Path(__file__).parents[2] / "dbt" / "seeds" / "counties.csv").read_text().splitlines()
    eligible = sum(int(line.split(",")[3]) for line in seed[1:])
    ever = eligible_donors / eligible * 100

    def share(y: int, group: str) -> float:
        return by_group[(y, group)] / collected[y] * 100

    return {
        "clinical_use_units": (use[year], use[baseline]),
        "clinical_use_growth_pct": ((use[year] / use[baseline] - 1) * 100, None),
        "collection_units": (collected[year], collected[baseline]),
        "collection_growth_pct": ((collected[year] / collected[baseline] - 1) * 100, None),
        "student_share_pct": (share(year, "student"), share(baseline, "student")),
        "employee_share_pct": (share(year, "employee"), share(baseline, "employee")),
        "eligible_ever_donated_pct": (ever, None),
        "eligible_never_donated_pct": (100 - ever, None),
        "discarded_storage_units": (storage, None),
        "discarded_test_units": (test, None),
        "discarded_storage_and_test_units": (storage + test, None),
    }


def _check_figures(data: dict[str, Any], expected: dict[str, tuple[Any, Any]]) -> None:
    assert [f["figure"] for f in data["figures"]] == list(expected)
    for figure in data["figures"]:
        value, then = expected[figure["figure"]]
        assert figure["value"] == pytest.approx(value, abs=0.006), figure
        if then is None:
            assert figure["then_value"] is None, figure
        else:
            assert figure["then_value"] == pytest.approx(then, abs=0.006), figure
        assert figure["label_zh"] and figure["label_en"] and figure["note"] == ""


def test_speech_figures_match_the_events(built: Built) -> None:
    from infra.figures import figures_report

    expected = expected_figures(built.city, 2025, 2024)
    assert expected["discarded_storage_units"][0] > 0 and expected["discarded_test_units"][0] > 0
    client = connect(built.settings)
    try:
        data = figures_report(client, built.settings, year=2025, baseline=2024)
        # The default baseline is four years back (2021): before the data, said so.
        default = figures_report(client, built.settings, year=2025)
    finally:
        client.close()
    assert (data["year"], data["baseline_year"]) == (2025, 2024)
    _check_figures(data, expected)
    assert default["baseline_year"] == 2021
    growth = {f["figure"]: f for f in default["figures"]}["collection_growth_pct"]
    assert growth["value"] is None and growth["note"] == "no data for 2021"


def test_speech_figures_over_http_and_the_cli(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from api.routes.figures import figures_settings
    from cli.main import app
    from infra.settings import get_settings

    expected = expected_figures(built.city, 2025, 2024)
    api = without_platform_auth(create_api())
    api.dependency_overrides[figures_settings] = lambda: built.settings
    with TestClient(api) as http:
        answer = http.get("/v1/figures", params={"year": 2025, "baseline": 2024})
        assert answer.status_code == 200
        _check_figures(answer.json(), expected)
        assert http.get("/v1/figures", params={"year": 2019}).status_code == 404
        bad = http.get("/v1/figures", params={"year": 2025, "baseline": 2025})
        assert bad.status_code == 422 and "before the year" in bad.json()["detail"]["message"]
    # The CLI in this process (chDB has one owner per directory), with no platform running.
    for name, value in {
        "BLOODTRACE_DATA_DIR": str(built.settings.data_path / "cli-figures"),
        "BLOODTRACE_WAREHOUSE_URL": built.settings.warehouse_dsn,
        "BLOODTRACE_WAREHOUSE_DATABASE": DATABASE,
        "BLOODTRACE_API_PORT": "9",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        done = runner.invoke(app, ["figures", "--year", "2025", "--baseline", "2024", "--json"])
        assert done.exit_code == 0, done.output
        _check_figures(json.loads(done.output), expected)
        table = runner.invoke(app, ["figures", "--year", "2025", "--baseline", "2024"])
        assert table.exit_code == 0 and "临床用血量" in table.output and "2024" in table.output
        missing = runner.invoke(app, ["figures", "--year", "2019"])
        assert missing.exit_code == 1 and "No donations in 2019" in missing.output
    finally:
        get_settings.cache_clear()


def test_wastage_rate_is_over_units_produced(built: Built) -> None:
    """Whole blood: test-reactive units over the whole-blood units collected that month."""
    city = built.city
    collected: dict[date, float] = defaultdict(float)
    for e in city.by_type["donation.collected"]:
        if e["payload"]["donation_kind"] == "whole_blood":
            collected[local_day(e).replace(day=1)] += city.collection_units(e["payload"])
    reactive: dict[date, float] = defaultdict(float)
    for e in city.by_type["unit.discarded"]:
        din = e["payload"]["din"][:13]
        kind = city.donations[din]["payload"]["donation_kind"]
        whole_donation = not city.targets(e)
        if e["payload"]["cause"] == "test_reactive" and kind == "whole_blood" and whole_donation:
            reactive[local_day(e).replace(day=1)] += _discarded_units(city, e)
    rows = query(
        built.settings,
        f"select waste_month, discarded_units, produced_units, wastage_rate_pct "
        f"from {MARTS}.wastage_monthly where component_type = 'whole_blood' "
        f"and cause = 'test_reactive'",
    )
    assert rows and reactive
    for month, discarded, produced, rate in rows:
        assert discarded == pytest.approx(reactive[month], abs=0.006)
        assert produced == pytest.approx(collected[month], abs=0.006)
        assert rate == pytest.approx(reactive[month] / collected[month] * 100, abs=0.0001)
        assert rate < 10  # not the 98.6 % of a denominator made of the discards themselves


# ---- docs, CLI and API -------------------------------------------------------------------
def test_docs_generate_works_offline(built: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    # Any attempt to reach the internet would fail fast through a dead proxy.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    # ...except the warehouse itself on the server profile (clickhouse-connect honours these).
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    result = run_dbt(built.settings, ["docs", "generate", "--static"], quiet=True)
    assert result.success
    target = built.settings.data_path / "dbt" / "target"
    catalog = json.loads((target / "catalog.json").read_text())
    assert "model.bloodtrace.county_scorecard" in catalog["nodes"]
    assert "source.bloodtrace.warehouse.donations" in catalog["sources"]
    page = (target / "static_index.html").read_text()
    for tag in ('<script src="http', '<link href="http', '<link rel="stylesheet" href="http'):
        assert tag not in page
    assert not (Path(__file__).parents[2] / "dbt" / "target").exists()  # nothing in the repo


def _bloodtrace(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "BLOODTRACE_DATA_DIR": str(settings.data_path / "cli"),
        "BLOODTRACE_API_PORT": "9",  # no platform there: the CLI runs dbt itself
    }
    bloodtrace = Path(sys.executable).with_name("bloodtrace")
    return subprocess.run(
        [str(bloodtrace), *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_cli_explains_a_bad_command(built: Built) -> None:
    done = _bloodtrace(built.settings, "dbt", "nonsense")
    assert done.returncode == 2
    assert "Not a dbt command: nonsense" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_http_route_runs_dbt(built: Built) -> None:
    api = without_platform_auth(create_api())
    api.dependency_overrides[dbt_settings] = lambda: built.settings
    with TestClient(api) as http:
        listed = http.post("/v1/dbt/ls", json={"args": ["--select", "marts.supply"]})
        assert listed.status_code == 200
        body = listed.json()
        assert body["success"] is True
        assert "bloodtrace.marts.supply.collections_daily" in body["output"]
        bad = http.post("/v1/dbt/nonsense")
        assert bad.status_code == 422
        assert bad.json()["detail"]["error"] == "ConfigError"


def test_a_broken_reference_fails_its_test(built: Built) -> None:
    """Last: it leaves a donation at an unknown site in the warehouse."""
    event = devoted_donors()[0]
    event["payload"] = event["payload"] | {"din": make_din("Z9999", 23, 999), "site_id": "S99"}
    client = connect(built.settings)
    load_direct(client, [event])
    client.close()
    result = run_dbt(built.settings, ["test", "--select", "stg_warehouse__donations"], quiet=True)
    assert not result.success
    assert [n.name for n in result.failed] == [
        "relationships_stg_warehouse__donations_site_id__site_id__ref_stg_reference__sites_"
    ]
