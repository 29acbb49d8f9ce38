"""`bloodtrace trace` and `lookback` on the warehouse directly (no platform running): the
readable table, the JSON, the not-found and malformed cases, and the audit rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from harness import free_port
from lifecycle_scenario import (
    DONOR,
    DONOR_NATIONAL_ID,
    RECIPIENT,
    SPLIT_DIN,
    reactive_donation,
    split_unit,
)
from typer.testing import CliRunner

from cli.main import app
from infra.settings import Settings, get_settings
from infra.warehouse import connect, migrate
from streams.sinks.warehouse import load_direct

SPLIT = SPLIT_DIN[:13]


@pytest.fixture
def loaded(warehouse_settings: Settings) -> Iterator[dict[str, str]]:
    client = connect(warehouse_settings)
    migrate(client)
    assert load_direct(client, split_unit() + reactive_donation())[1] == 0
    env = {
        "BLOODTRACE_DATA_DIR": str(warehouse_settings.data_dir),
        "BLOODTRACE_WAREHOUSE_URL": warehouse_settings.warehouse_dsn,
        "BLOODTRACE_WAREHOUSE_DATABASE": warehouse_settings.warehouse_database,
        "BLOODTRACE_PSEUDONYM_KEY": "test-key",
        "BLOODTRACE_API_PORT": str(free_port()),  # nothing listens: the direct path
        "COLUMNS": "250",
    }
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


def invoke(env: dict[str, str], *args: str) -> Any:
    get_settings.cache_clear()
    return CliRunner().invoke(app, list(args), env=env)


def test_trace_table_json_and_audit(loaded: dict[str, str], warehouse_settings: Settings) -> None:
    shown = invoke(loaded, "trace", SPLIT_DIN)  # with its check character
    assert shown.exit_code == 0, shown.output
    text = shown.output
    for expected in (
        f"Unit {SPLIT_DIN}",
        DONOR,
        "storage.excursion 温度偏离",
        "temperature excursion in FR-01: 8.5 to 9 °C for 10 min",
        "unit.transfused 输注",
        f"transfused to recipient {RECIPIENT} (A+) in ICU",
        "received from BS01 (shipment SH2)",
    ):
        assert expected in text, expected

    as_json = invoke(loaded, "trace", SPLIT, "--json")
    assert as_json.exit_code == 0
    data = orjson.loads(as_json.stdout)
    assert data["din"] == SPLIT and data["recipients"] == [RECIPIENT]
    assert data["steps"][0]["step"] == "donation.collected"
    assert [s["at"] for s in data["steps"]] == sorted(s["at"] for s in data["steps"])

    donor = invoke(loaded, "trace", "--donor", DONOR_NATIONAL_ID, "--json")
    assert donor.exit_code == 0
    forward = orjson.loads(donor.stdout)
    assert forward["donor_id"] == DONOR
    assert [d["screening"] for d in forward["donations"]] == ["negative", "reactive"]

    backward = invoke(loaded, "trace", "--recipient", RECIPIENT)
    assert backward.exit_code == 0 and "blood from 1 donor(s)" in backward.output

    client = connect(warehouse_settings)
    audit = client.query(
        "select action, subject, outcome, channel from audit_log order by at"
    ).result_rows
    assert audit == [
        ("trace.unit", SPLIT, "ok", "cli"),
        ("trace.unit", SPLIT, "ok", "cli"),
        ("trace.donor", DONOR, "ok", "cli"),
        ("trace.recipient", RECIPIENT, "ok", "cli"),
    ]


def test_unknown_and_malformed_identifiers_are_clear_messages(loaded: dict[str, str]) -> None:
    unknown = invoke(loaded, "trace", "G123426999999")
    assert unknown.exit_code == 1 and "No events for unit G123426999999" in unknown.output
    mistyped = invoke(loaded, "trace", SPLIT + "Q")  # wrong check character
    assert mistyped.exit_code == 1 and "check character" in mistyped.output
    nobody = invoke(loaded, "trace", "--recipient", "999999199901010000")
    assert nobody.exit_code == 1 and "No unit was issued or transfused" in nobody.output
    none = invoke(loaded, "lookback", "show", "LB-000000000000")
    assert none.exit_code == 1 and "No lookback LB-000000000000" in none.output
    for result in (unknown, mistyped, nobody, none):
        assert "Traceback" not in result.output
    listed = invoke(loaded, "lookback", "list", "--json")
    assert listed.exit_code == 0 and orjson.loads(listed.stdout) == []
