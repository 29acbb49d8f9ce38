"""A split unit, a transfusion, then a later reactive donation by the same donor, through the
real broker, the lifecycle processor and the warehouse: the exact trace, the lookback, the
recall notice on the recalls topic, its tracking until quarantined, the alert and the audit."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from harness import ThreadPlatform, settings_env, wait_until
from lifecycle_scenario import (
    DONOR,
    DONOR_NATIONAL_ID,
    INDEX_DIN,
    PLASMA,
    RECIPIENT,
    RECIPIENT_NATIONAL_ID,
    RED,
    SPLIT_DIN,
    h,
    reactive_donation,
    split_unit,
    unit_event,
)

from infra.settings import Settings
from infra.warehouse import thread_client
from models.validation import parse_event
from sdk.producer import Producer
from streams.lookback import lookback_id_for

SPLIT, INDEX = SPLIT_DIN[:13], INDEX_DIN[:13]
LOOKBACK = lookback_id_for(DONOR, INDEX)

# (step, facility, product code) of the split unit, in time order.
EXPECTED_CHAIN = [
    ("donation.collected", "BS01", ""),
    ("component.produced", "BS01", RED),
    ("component.produced", "BS01", PLASMA),
    ("test.result_recorded", "BS01", ""),
    ("test.result_recorded", "BS01", ""),
    ("unit.released", "BS01", ""),
    ("unit.stored", "BS01", RED),
    ("unit.stored", "BS01", PLASMA),
    ("storage.excursion", "BS01", RED),
    ("unit.shipped", "BS01", RED),
    ("unit.received", "H01", RED),
    ("crossmatch.performed", "H01", RED),
    ("unit.issued", "H01", RED),
    ("unit.transfused", "H01", RED),
    ("unit.shipped", "BS01", PLASMA),
    ("unit.received", "H02", PLASMA),
]


def send(settings: Settings, events: list[dict[str, Any]]) -> None:
    with Producer(settings) as producer:
        outcomes = [producer.send(e) for e in events]
    assert all(o.accepted for o in outcomes), [o.to_dict() for o in outcomes if not o.accepted]


def recall_notices(settings: Settings, want: int) -> list[dict[str, Any]]:
    consumer = Consumer(
        {"bootstrap.servers": settings.bootstrap_servers, "group.id": "test-recalls"}
    )
    topic = settings.topic("recalls")
    consumer.assign(
        [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(settings.topic_partitions)]
    )
    found: list[dict[str, Any]] = []

    def poll() -> bool:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            value = message.value()
            assert value is not None  # every recall carries its event
            found.append({"key": message.key(), "event": orjson.loads(value)})
        return len(found) >= want

    try:
        wait_until(poll, 30, interval=0, what="recall notices")
    finally:
        consumer.close()
    return found


def test_split_unit_transfusion_then_reactive_donation(platform: ThreadPlatform) -> None:
    settings = platform.settings
    client = thread_client(settings)
    send(settings, split_unit())
    platform.wait_accepted(len(split_unit()))

    # The exact vein-to-vein chain of the split unit, over HTTP (DIN without check character).
    def full_trace() -> dict[str, Any] | None:
        response = httpx.get(f"{platform.url}/v1/units/{SPLIT}/trace", timeout=10)
        if response.status_code != 200:
            return None
        data: dict[str, Any] = response.json()
        return data if len(data["steps"]) == len(EXPECTED_CHAIN) else None

    trace = wait_until(full_trace, 30, what="the split unit's trace")
    assert [(s["step"], s["facility_id"], s["product_code"]) for s in trace["steps"]] == (
        EXPECTED_CHAIN
    )
    assert trace["donor_id"] == DONOR and trace["screening"] == "negative"
    assert trace["recipients"] == [RECIPIENT]
    excursion = next(s for s in trace["steps"] if s["step"] == "storage.excursion")
    assert excursion["details"]["equipment_id"] == "FR-01"
    assert (excursion["details"]["max_c"], excursion["details"]["readings"]) == (9.0, 2)
    status = {c["product_code"]: (c["status"], c["holder_facility"]) for c in trace["components"]}
    assert status == {RED: ("transfused", "H01"), PLASMA: ("available", "H02")}

    # The later donation turns out anti-HIV reactive, confirmed: a lookback opens by itself.
    send(settings, reactive_donation())
    wait_until(
        lambda: client.query("select count() from lookbacks").result_rows[0][0] >= 1,
        45,
        what="a lookback",
    )
    lookback = httpx.get(f"{platform.url}/v1/lookbacks/{LOOKBACK}", timeout=10).json()
    assert lookback["donor_id"] == DONOR and lookback["index_din"] == INDEX
    assert lookback["markers"] == ["HIV-RNA", "anti-HIV"] and lookback["confirmed_by"] == "NAT"
    assert lookback["window_rule"] == "last negative donation"
    assert lookback["window_start"] == "2026-01-05T09:00:00Z"
    assert lookback["recipients_to_notify"] == [RECIPIENT]
    scope = {
        (c["din"], c["product_code"]): (c["role"], c["status"], c["holder_facility"], c["recall"])
        for c in lookback["components_in_scope"]
    }
    assert scope == {
        (SPLIT, RED): ("earlier", "transfused", "H01", ""),
        (SPLIT, PLASMA): ("earlier", "available", "H02", "open"),
        (INDEX, RED): ("index", "unsafe", "BS01", ""),
    }
    assert (lookback["status"], lookback["open_recalls"]) == ("open", 1)

    # One recall notice, to the hospital holding the plasma, a valid recall.opened event.
    (notice,) = recall_notices(settings, 1)
    assert notice["key"] == b"H02"
    event = parse_event(orjson.dumps(notice["event"]))
    assert event.type == "recall.opened"  # type: ignore[attr-defined]
    assert event.payload.addressed_to == "H02"  # type: ignore[attr-defined]
    assert event.payload.dins == [SPLIT] and event.payload.lookback_id == LOOKBACK  # type: ignore[attr-defined]

    # The alert, with its evidence, in both languages (it reaches its table via the alerts
    # topic, a moment after the lookback's own rows).
    rows = wait_until(
        lambda: (
            client.query(
                "select message_en, message_zh, evidence from alerts where rule = 'lookback.opened'"
            ).result_rows
        ),
        15,
        what="the lookback alert",
    )
    assert len({r[2] for r in rows}) == 1
    evidence = orjson.loads(rows[0][2])
    assert evidence["earlier_donations"] == [SPLIT] and evidence["recipients"] == [RECIPIENT]
    assert "anti-HIV" in rows[0][0] and "回溯" in rows[0][1]

    # H02 quarantines the plasma: the recall is resolved and the lookback closes.
    send(
        settings,
        [
            unit_event(
                "unit.quarantined",
                SPLIT_DIN,
                h(24 * 205),
                "H02",
                product_code=PLASMA,
                reason=f"recall {LOOKBACK}",
            ),
        ],
    )

    def closed_lookbacks() -> list[dict[str, Any]] | None:
        listed: list[dict[str, Any]] = httpx.get(f"{platform.url}/v1/lookbacks", timeout=10).json()
        return listed if listed and listed[0]["status"] == "closed" else None

    closed = wait_until(closed_lookbacks, 30, what="the lookback to close")
    assert closed[0]["lookback_id"] == LOOKBACK and closed[0]["open_recalls"] == 0

    # Backward from the recipient, forward from the donor, by national ID, via the CLI.
    env = settings_env(settings)
    out = subprocess.run(
        [sys.executable, "-m", "cli", "trace", "--recipient", RECIPIENT_NATIONAL_ID, "--json"],
        env=env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    backward = orjson.loads(out.stdout)
    assert backward["recipient_id"] == RECIPIENT and backward["donors"] == [DONOR]
    assert [(r["din"], r["product_code"], r["role"]) for r in backward["received"]] == [
        (SPLIT, RED, "transfused")
    ]
    forward = httpx.get(f"{platform.url}/v1/donors/{DONOR_NATIONAL_ID}/trace", timeout=10).json()
    assert [d["din"] for d in forward["donations"]] == [SPLIT, INDEX]
    assert forward["recipients"] == [RECIPIENT]
    assert [lb["lookback_id"] for lb in forward["lookbacks"]] == [LOOKBACK]

    # The recall shows in the unit's trace; an unknown DIN is a 404 and an exit 1.
    again = httpx.get(f"{platform.url}/v1/units/{SPLIT_DIN}/trace", timeout=10).json()
    assert any(s["step"] == "recall.notice" for s in again["steps"])
    missing = httpx.get(f"{platform.url}/v1/units/G123426999999/trace", timeout=10)
    assert missing.status_code == 404 and missing.json()["detail"]["error"] == "NotFound"
    cli = subprocess.run(
        [sys.executable, "-m", "cli", "trace", "G123426999999"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert cli.returncode == 1 and b"No events for unit G123426999999" in cli.stderr
    assert b"Traceback" not in cli.stderr

    # Every lookup above is in the audit log, with who and from where; national IDs never.
    audit = client.query(
        "select action, subject, outcome, channel, client from audit_log order by at"
    ).result_rows
    actions = [(a, s, o) for a, s, o, _, _ in audit]
    assert (("trace.unit", SPLIT, "ok")) in actions
    assert ("lookback.show", LOOKBACK, "ok") in actions
    assert ("trace.recipient", RECIPIENT, "ok") in actions
    assert ("trace.donor", DONOR, "ok") in actions
    assert ("trace.unit", "G123426999999", "not_found") in actions
    assert all(DONOR_NATIONAL_ID not in s and RECIPIENT_NATIONAL_ID not in s for _, s, *_ in audit)
    assert any("cli" in c for *_, c in audit)
