"""Every documented dbt command is safe to repeat (issue 9).

`bloodtrace dbt run --selector refresh` right after a build, with nothing new, broke every
later `dbt build`: the rows of the last `incremental_overlap_minutes` are read again, and the
ledger's processing movement was named after whichever component of the donation the query met
first; another one won the tie, the run cancelled the old name and appended the new one, and
the data test `one_live_version` failed from then on (with some 60 nodes skipped).

Here each command of dbt/README.md runs twice with no new data and twice after a new day
arrives (with late events: a component older than the one already known, a discard recorded
against a whole donation before its components were known), and `dbt build` must stay green
after each; at the end the incremental marts equal a full refresh.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import events_factory
import pytest

from infra.dbt_runner import DbtResult, run_dbt
from infra.settings import Settings
from infra.warehouse import connect, migrate
from models.isbt128 import make_din
from models.pseudonym import pseudonymise
from simulation import PRESETS, simulate
from streams.sinks.warehouse import load_direct

pytestmark = pytest.mark.integration

LOCAL = ZoneInfo("Asia/Shanghai")
KEY = b"dbt-repeat-key"
DATABASE = "dbt_repeat"
MARTS = f"{DATABASE}_marts"
START = date(2025, 3, 3)
FIRST_DAYS = 4
# What changes the warehouse; the read-only ones (dbt/README.md) are repeated in one test.
WRITING_COMMANDS = [["build"], ["run", "--selector", "refresh"], ["run"]]
READING_COMMANDS = [
    ["test", "--select", "marts.inventory"],
    ["docs", "generate", "--static"],
    ["source", "freshness"],
]
COMPARED_MARTS = [
    "collections_daily",
    "clinical_use_monthly",
    "inventory_daily",
    "wastage_monthly",
    "supply_demand_yearly",
    "donor_structure_monthly",
    "county_scorecard",
]


_iso = events_factory.iso
_event = events_factory.recorded


def _donation(din: str, at: datetime) -> dict[str, Any]:
    return _event(
        "donation.collected",
        at,
        {
            "din": din,
            "donor_id": pseudonymise(f"repeat-{din}", KEY),
            "donation_kind": "whole_blood",
            "volume_ml": 400,
            "site_id": "S01",
            "site_kind": "fixed_house",
            "county_code": "610902",
            "abo_rh": "A+",
            "donor_group": "employee",
            "donor_age": 33,
            "donor_sex": "F",
            "first_time": False,
            "therapeutic_units": 0,
        },
    )


def _component(din: str, code: str, ctype: str, at: datetime) -> dict[str, Any]:
    return _event(
        "component.produced",
        at,
        {
            "din": din,
            "product_code": code,
            "component_type": ctype,
            "volume_ml": 200,
            "expires_at": _iso(at + timedelta(days=35)),
            "abo_rh": "A+",
        },
    )


def edge_cases(day: date, sequence: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(events of ``day``, their late companions sent with a later day): a donation whose
    plasma is recorded late with an earlier time than its red cells, and a whole-donation
    discard recorded before the donation's components were known."""
    morning = datetime.combine(day, datetime.min.time(), LOCAL) + timedelta(hours=9)
    late_plasma = make_din("Z9998", 25, sequence)
    discarded = make_din("Z9998", 25, sequence + 1)
    now = [
        _donation(late_plasma, morning),
        _event("unit.released", morning + timedelta(hours=4), {"din": late_plasma}),
        _component(late_plasma, "E0336V00", "red_cells", morning + timedelta(hours=5)),
        _donation(discarded, morning),
        _event(
            "unit.discarded",
            morning + timedelta(hours=6),
            {"din": discarded, "cause": "under_volume", "volume_ml": 400, "note": "欠量"},
        ),
    ]
    later = [
        _component(late_plasma, "E0791V00", "plasma", morning + timedelta(hours=3)),
        _component(discarded, "E0336V00", "red_cells", morning + timedelta(hours=2)),
        _component(discarded, "E0791V00", "plasma", morning + timedelta(hours=2)),
    ]
    return now, later


def local_day(event: dict[str, Any]) -> date:
    moment = datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))
    return moment.astimezone(LOCAL).date()


@dataclass
class Warehouse:
    settings: Settings
    by_day: dict[date, list[dict[str, Any]]]
    next_day: date
    held_back: list[dict[str, Any]] = field(default_factory=list)
    sequence: int = 1

    def load(self, events: list[dict[str, Any]]) -> None:
        client = connect(self.settings)
        try:
            assert load_direct(client, events) == (len(events), 0)
        finally:
            client.close()

    def new_day(self) -> None:
        """The next simulated day, the edge cases of that day, and the previous day's late
        events."""
        day = self.next_day
        now, later = edge_cases(day, self.sequence)
        self.load(self.by_day.pop(day) + now + self.held_back)
        self.held_back, self.sequence, self.next_day = later, self.sequence + 2, day + timedelta(1)


def _problems(result: DbtResult) -> list[tuple[str, str, str | None]]:
    return [
        (n.name, n.status, n.message) for n in result.nodes if n.status not in ("success", "pass")
    ]


def run_ok(settings: Settings, args: list[str]) -> DbtResult:
    result = run_dbt(settings, args, quiet=True)
    assert result.success, (args, _problems(result))
    return result


def build_green(settings: Settings) -> None:
    result = run_dbt(settings, ["build"], quiet=True)
    assert result.nodes and not _problems(result)  # nothing failed, warned or was skipped


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, warehouse_dsn: str) -> Iterator[Warehouse]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("dbt-repeat"),
        warehouse_url=warehouse_dsn,
        warehouse_database=DATABASE,
    )
    days = FIRST_DAYS + len(WRITING_COMMANDS) + 1
    events = simulate(PRESETS["small"], start=START, days=days, seed=7, pseudonym_key=KEY)
    by_day: dict[date, list[dict[str, Any]]] = {}
    for event in events:
        by_day.setdefault(local_day(event), []).append(event)
    client = connect(settings)
    migrate(client)
    client.close()
    held = Warehouse(settings, by_day, START)
    for _ in range(FIRST_DAYS):
        held.new_day()
    build_green(settings)
    yield held


@pytest.mark.parametrize("command", WRITING_COMMANDS, ids=" ".join)
def test_a_writing_command_twice_with_and_without_new_data_leaves_build_green(
    warehouse: Warehouse, command: list[str]
) -> None:
    # Nothing new, but the rows of the overlap are read again. What broke stayed broken (a
    # movement cancelled under its old name), so the build at the end sees it.
    run_ok(warehouse.settings, command)
    run_ok(warehouse.settings, command)
    warehouse.new_day()
    run_ok(warehouse.settings, command)
    run_ok(warehouse.settings, command)
    if command != ["build"]:
        build_green(warehouse.settings)


def test_each_reading_command_twice_leaves_build_green(warehouse: Warehouse) -> None:
    for command in READING_COMMANDS:
        run_ok(warehouse.settings, command)
        run_ok(warehouse.settings, command)
    build_green(warehouse.settings)


def test_the_repeated_runs_equal_a_full_refresh(warehouse: Warehouse) -> None:
    """Last: the ledger and the marts after every repetition above, against a rebuild."""
    warehouse.new_day()  # the last late events too
    run_ok(warehouse.settings, ["run", "--selector", "refresh"])
    run_ok(warehouse.settings, ["run", "--selector", "refresh"])
    client = connect(warehouse.settings)
    try:
        ledger_sql = (
            f"select movement_id, row_hash, sum(sign) from {MARTS}.fct_unit_movements "
            "group by movement_id, row_hash having sum(sign) != 0 order by 1, 2"
        )
        incremental_ledger = client.query(ledger_sql).result_rows
        incremental = {
            t: sorted(client.query(f"select * from {MARTS}.{t}").result_rows, key=repr)
            for t in COMPARED_MARTS
        }
        # The late plasma kept its donation's processing under one name, moved earlier.
        [(names, live)] = client.query(
            f"select uniqExact(movement_id), sum(sign) from {MARTS}.fct_unit_movements "
            f"where din = '{make_din('Z9998', 25, 1)[:13]}' and movement = 'processed'"
        ).result_rows
        assert (names, live) == (1, 1)
        run_ok(warehouse.settings, ["run", "--full-refresh"])
        assert client.query(ledger_sql).result_rows == incremental_ledger
        for table in COMPARED_MARTS:
            refreshed = sorted(client.query(f"select * from {MARTS}.{table}").result_rows, key=repr)
            assert incremental[table] == refreshed, table
    finally:
        client.close()
