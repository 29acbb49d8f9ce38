"""The lifecycle state lives in Faust tables with changelogs: a restarted platform picks up
where the last one stopped (a released unit stays released, a donor keeps her history)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from harness import thread_platform, wait_until
from lifecycle_scenario import RED, T0, collected, h, produced, unit_event

from infra.settings import Settings
from infra.warehouse import thread_client
from models.isbt128 import make_din
from models.lifecycle import UnitState
from models.pseudonym import pseudonymise
from sdk.producer import Producer

RELEASED = make_din("G1234", 26, 301)
NEVER_RELEASED = make_din("G1234", 26, 302)
DONOR = pseudonymise("RECOVERY-DONOR", b"test-key")


def unit(tables: Any, din: str) -> UnitState:
    """A unit's state as the lifecycle processor holds it in its Faust table."""
    code = din[:13]
    return UnitState.from_bytes(code, tables["lifecycle-units"][code.encode()])


def send(settings: Settings, events: list[dict[str, object]]) -> None:
    with Producer(settings) as producer:
        assert all(producer.send(e).accepted for e in events)


def test_state_survives_a_restart(settings: Settings) -> None:
    with thread_platform(settings) as first:
        send(
            settings,
            [
                collected(RELEASED, T0, DONOR),
                produced(RELEASED, RED, "red_cells", 280, h(2), 35),
                unit_event("unit.released", RELEASED, h(8)),
                collected(NEVER_RELEASED, T0),
            ],
        )
        tables = first.platform.ctx.app.tables
        wait_until(
            lambda: (
                unit(tables, RELEASED).items[RED].status == "available"
                and DONOR.encode() in tables["lifecycle-donors"]
            ),
            45,
            what="the first platform's lifecycle state",
        )

    with thread_platform(settings) as second:
        send(
            settings,
            [
                unit_event("unit.issued", RELEASED, h(30), "H01", product_code=RED, ward="ER"),
                unit_event("unit.issued", NEVER_RELEASED, h(30), "H01", ward="ER"),
                collected(make_din("G1234", 26, 303), T0 + timedelta(days=60), DONOR),
            ],
        )
        client = thread_client(settings)

        def alerts() -> set[tuple[str, str]]:
            rows = client.query("select rule, din from alerts").result_rows
            return {(rule, din) for rule, din in rows}

        wait_until(
            lambda: (
                {
                    ("unit.issued_unreleased", NEVER_RELEASED[:13]),
                    ("donation.interval", make_din("G1234", 26, 303)[:13]),
                }
                <= alerts()
            ),
            45,
            what="alerts after the restart",
        )
        tables = second.platform.ctx.app.tables
        wait_until(
            lambda: unit(tables, RELEASED).items[RED].status == "issued",
            30,
            what="the issue of the released unit",
        )
        time.sleep(2)  # its alerts, if any, were delivered before its state was stored
        # The released unit was remembered as released: issuing it is fine.
        assert not {a for a in alerts() if a[1] == RELEASED[:13]}
