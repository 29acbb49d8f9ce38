"""`bloodtrace inventory` with no platform running: straight on the warehouse.

Events loaded straight into the warehouse (a seed or an import) never pass the stream, so
`inventory rebuild` folds them; each command runs in its own process because chDB allows one
process per data directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from events_factory import donation, envelope, recipient
from harness import free_port

from models.isbt128 import make_din

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _events() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for seq in range(1, 5):  # four O+ donations at BS01, made into red cells, released
        din = make_din("G1234", 26, seq)
        out.append(donation(seq, at=T0 - timedelta(days=3)))
        produced = {
            "din": din,
            "product_code": "E0336V00",
            "component_type": "red_cells",
            "volume_ml": 250,
            "expires_at": (T0 + timedelta(days=30)).isoformat(),
            "abo_rh": "O+",
        }
        out.append(envelope("component.produced", produced, at=T0 - timedelta(days=3)))
        out.append(envelope("unit.released", {"din": din}, at=T0 - timedelta(days=2)))
    issued = {"din": make_din("G1234", 26, 1), "recipient_id": recipient(1), "ward": "ICU"}
    out.append(envelope("unit.issued", issued, at=T0))
    return out


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, timeout=180, check=False
    )


def test_inventory_straight_on_the_warehouse(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLOODTRACE_")}
    env.update(
        BLOODTRACE_DATA_DIR=str(tmp_path),
        BLOODTRACE_API_PORT=str(free_port()),  # nothing listens: the CLI opens the warehouse
        BLOODTRACE_PSEUDONYM_KEY="test-key",
    )
    (tmp_path / "events.json").write_bytes(orjson.dumps(_events()))
    load = (
        "import orjson, sys\n"
        "from infra.settings import Settings\n"
        "from infra.warehouse import connect, migrate\n"
        "from streams.sinks.warehouse import load_direct\n"
        "client = connect(Settings()); migrate(client)\n"
        "print(load_direct(client, orjson.loads(open(sys.argv[1], 'rb').read())))\n"
    )
    loaded = _run(env, "-c", load, str(tmp_path / "events.json"))
    assert loaded.returncode == 0, loaded.stderr.decode()[-2000:]
    assert loaded.stdout.decode().strip() == "(13, 0)"

    before = _run(env, "-m", "cli", "inventory", "--json")
    assert before.returncode == 0, before.stderr.decode()[-2000:]
    assert orjson.loads(before.stdout)["facilities"] == []  # loaded, but never folded

    rebuilt = _run(env, "-m", "cli", "inventory", "rebuild", "--json")
    assert rebuilt.returncode == 0, rebuilt.stderr.decode()[-2000:]
    assert orjson.loads(rebuilt.stdout) == {"donations": 4}

    after = _run(env, "-m", "cli", "inventory", "--json")
    data = orjson.loads(after.stdout)
    (row,) = data["facilities"]
    assert (row["facility_id"], row["abo_rh"], row["component_type"]) == ("BS01", "O+", "red_cells")
    # 4 made, 1 issued: 3 available; 1 out in 7 days -> 3 / (1/7) = 21 days.
    assert (row["available"], row["units_out_in_window"], row["days_of_supply"]) == (3, 1, 21.0)

    table = _run(env, "-m", "cli", "inventory", "excursions")
    assert table.returncode == 0 and b"cold-chain excursions" in table.stdout
    bad = _run(env, "-m", "cli", "inventory", "--as-of", "yesterday")
    assert bad.returncode == 2 and b"Not a date or time" in bad.stderr
