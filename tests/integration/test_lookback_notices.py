"""Lookback notices reach hospitals, through the real broker, the lifecycle processor and the
warehouse: a reactive donation opens a lookback; each hospital that transfused a component in
its scope gets exactly one notice with its units and recipients; its acknowledgement closes
its part; the other hospital, overdue, is reminded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from events_factory import envelope
from harness import ThreadPlatform, wait_until
from lifecycle_scenario import (
    DONOR,
    INDEX_DIN,
    KEY,
    PLASMA,
    RECIPIENT,
    RED,
    SPLIT_DIN,
    h,
    reactive_donation,
    split_unit,
    unit_event,
)

from infra.settings import Settings
from infra.warehouse import thread_client
from models.pseudonym import pseudonymise
from sdk.producer import Producer
from streams.lookback import lookback_id_for, show_lookback
from streams.lookback_notices import notice_id_for, notice_status, send_reminders

pytestmark = pytest.mark.integration

SPLIT, INDEX = SPLIT_DIN[:13], INDEX_DIN[:13]
LOOKBACK = lookback_id_for(DONOR, INDEX)
RECIPIENT_2 = pseudonymise("PLASMA-RECIPIENT", KEY)


def plasma_transfused_at_h02() -> list[dict[str, Any]]:
    return [
        unit_event(
            "unit.issued",
            SPLIT_DIN,
            h(80),
            "H02",
            product_code=PLASMA,
            recipient_id=RECIPIENT_2,
            ward="Surgery",
        ),
        unit_event(
            "unit.transfused",
            SPLIT_DIN,
            h(81),
            "H02",
            product_code=PLASMA,
            recipient_id=RECIPIENT_2,
            recipient_abo_rh="O+",
            ward="Surgery",
            indication="coagulopathy",
        ),
    ]


def send(settings: Settings, events: list[dict[str, Any]]) -> None:
    with Producer(settings) as producer:
        outcomes = [producer.send(e) for e in events]
    assert all(o.accepted for o in outcomes), [o.to_dict() for o in outcomes if not o.accepted]


def read_notices(settings: Settings, want: int) -> list[tuple[bytes | None, dict[str, Any]]]:
    consumer = Consumer(
        {"bootstrap.servers": settings.bootstrap_servers, "group.id": "test-notices"}
    )
    topic = settings.topic("notices")
    consumer.assign(
        [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(settings.topic_partitions)]
    )
    found: list[tuple[bytes | None, dict[str, Any]]] = []

    def poll() -> bool:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            value = message.value()
            assert value is not None  # every notice carries its event
            found.append((message.key(), orjson.loads(value)))
        return len(found) >= want

    try:
        wait_until(poll, 30, interval=0, what="hospital notices")
        # Nothing more arrives: exactly one notice per hospital.
        extra = consumer.poll(2.0)
        assert extra is None or extra.error() is not None, extra and extra.value()
    finally:
        consumer.close()
    return found


def test_each_receiving_hospital_gets_one_notice_and_its_ack_closes_its_part(
    platform: ThreadPlatform,
) -> None:
    settings = platform.settings
    client = thread_client(settings)
    first = split_unit() + plasma_transfused_at_h02()
    send(settings, first)
    platform.wait_accepted(len(first))
    send(settings, reactive_donation())

    notices = read_notices(settings, 2)
    by_hospital = {key: notice for key, notice in notices}
    assert set(by_hospital) == {b"H01", b"H02"}
    assert by_hospital[b"H01"]["units"] == [f"{SPLIT}/{RED}"]
    assert by_hospital[b"H01"]["recipients"] == [RECIPIENT]
    assert by_hospital[b"H02"]["units"] == [f"{SPLIT}/{PLASMA}"]
    assert by_hospital[b"H02"]["recipients"] == [RECIPIENT_2]
    assert {n["lookback_id"] for n in by_hospital.values()} == {LOOKBACK}

    def status() -> dict[str, str]:
        return {n["hospital_id"]: n["status"] for n in notice_status(client, [LOOKBACK])}

    assert wait_until(lambda: status() or None, 30, what="notice rows") == {
        "H01": "open",
        "H02": "open",
    }

    # H01 acknowledges (an ordinary event through the SDK): its part closes, H02's stays open.
    now = datetime.now(UTC)
    ack = envelope(
        "lookback.acknowledged",
        {
            "notice_id": notice_id_for(LOOKBACK, "H01"),
            "lookback_id": LOOKBACK,
            "acknowledged_by": "transfusion dept",
        },
        at=now,
        facility="H01",
    )
    send(settings, [ack])
    wait_until(lambda: status().get("H01") == "acknowledged", 30, what="H01's acknowledgement")
    assert status()["H02"] == "open"
    shown = show_lookback(client, LOOKBACK, settings)
    assert [(n["hospital_id"], n["status"]) for n in shown["hospital_notices"]] == [
        ("H01", "acknowledged"),
        ("H02", "open"),
    ]

    # Past the due time only H02 is reminded, once per reminder interval.
    later = now + timedelta(hours=settings.supply.notice_ack_due_hours + 1)
    sent: list[tuple[bytes, bytes]] = []
    assert send_reminders(client, settings, sent.extend, later) == 1
    assert [key for key, _ in sent] == [b"H02"]
    assert orjson.loads(sent[0][1])["reminder"] == 1
    assert send_reminders(client, settings, sent.extend, later + timedelta(hours=1)) == 0
    every = timedelta(hours=settings.supply.notice_reminder_every_hours)
    assert send_reminders(client, settings, sent.extend, later + every) == 1
    assert {n["hospital_id"]: n["reminders"] for n in notice_status(client, [LOOKBACK])} == {
        "H01": 0,
        "H02": 2,
    }
