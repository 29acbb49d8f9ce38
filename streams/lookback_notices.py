"""Lookback notices that reach hospitals.

When a lookback opens (streams/lookback.py), each hospital that issued or transfused a
component in its scope gets one notice: a record on the ``notices`` topic keyed by the hospital
and a row in ``lookback_notices`` listing the units (DIN/product code) and the recipients'
pseudonyms. The hospital answers with a ``lookback.acknowledged`` event (an ordinary event
through any edge; its facility_id is the hospital), which closes its part. Notices still
unacknowledged ``supply.notice_ack_due_hours`` after they were sent are reminded (a record on
the notices topic and a row in ``lookback_notice_reminders``), then again every
``supply.notice_reminder_every_hours``: the scheduled job ``lookback-reminders``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson

from infra.settings import Settings
from infra.warehouse import WarehouseClient
from models.lifecycle import Status, from_ms, iso, to_ms

_NAMESPACE = uuid.UUID("3f4b0c52-91de-4f55-8b3c-2a7d4e1c9b60")
NOTICE_COLUMNS = [
    "notice_id",
    "lookback_id",
    "hospital_id",
    "units",
    "recipients",
    "sent_at",
    "due_at",
    "event_id",
    "src_partition",
    "src_offset",
]
USED = frozenset({Status.issued, Status.transfused})


class _Item(Protocol):
    din: str
    product_code: str
    status: str
    holder: str
    recipient: str


def notice_id_for(lookback_id: str, hospital: str) -> str:
    return "LN-" + hashlib.sha256(f"{lookback_id}|{hospital}".encode()).hexdigest()[:12]


def plan_notices(
    lookback_id: str,
    reason: str,
    items: Iterable[_Item],
    settings: Settings,
    *,
    now: int,
    partition: int,
    offset: int,
) -> tuple[list[tuple[bytes, bytes]], list[tuple[Any, ...]]]:
    """(records for the notices topic, rows for lookback_notices): one per hospital that
    issued or transfused a component in scope."""
    by_hospital: dict[str, list[_Item]] = {}
    for item in items:
        if (item.status in USED or item.recipient) and item.holder:
            by_hospital.setdefault(item.holder, []).append(item)
    sent_at = from_ms(now)
    due = sent_at + timedelta(hours=settings.supply.notice_ack_due_hours)
    records: list[tuple[bytes, bytes]] = []
    rows: list[tuple[Any, ...]] = []
    for hospital, used in sorted(by_hospital.items()):
        notice_id = notice_id_for(lookback_id, hospital)
        event_id = uuid.uuid5(_NAMESPACE, notice_id)
        units = sorted({f"{i.din}/{i.product_code}" if i.product_code else i.din for i in used})
        recipients = sorted({i.recipient for i in used if i.recipient})
        records.append(
            (
                hospital.encode(),
                orjson.dumps(
                    {
                        "event_id": str(event_id),
                        "type": "lookback.notice",
                        "occurred_at": iso(now),
                        "notice_id": notice_id,
                        "lookback_id": lookback_id,
                        "addressed_to": hospital,
                        "units": units,
                        "recipients": recipients,
                        "reason": reason[:500],
                        "acknowledge_by": iso(to_ms(due)),
                        "acknowledge_with": {
                            "type": "lookback.acknowledged",
                            "payload": {"notice_id": notice_id, "lookback_id": lookback_id},
                        },
                    }
                ),
            )
        )
        rows.append(
            (
                notice_id,
                lookback_id,
                hospital,
                units,
                recipients,
                sent_at,
                due,
                event_id,
                partition,
                offset,
            )
        )
    return records, rows


def notice_status(
    client: WarehouseClient, lookback_ids: list[str], now: datetime | None = None
) -> list[dict[str, Any]]:
    """Each hospital's notice for these lookbacks, acknowledged or not, overdue or not."""
    now = now or datetime.now(UTC)
    rows = client.query(
        "select n.notice_id, n.lookback_id, n.hospital_id, n.units, n.recipients, n.sent_at, "
        "n.due_at, a.acked, r.reminders, r.last_reminder from "
        "(select * from lookback_notices where lookback_id in {ids:Array(String)} "
        " limit 1 by notice_id) as n "
        "left join (select notice_id, facility_id, min(occurred_at) as acked "
        " from lookback_acknowledgements where lookback_id in {ids:Array(String)} "
        " group by notice_id, facility_id) as a "
        "on a.notice_id = n.notice_id and a.facility_id = n.hospital_id "
        "left join (select notice_id, count() as reminders, max(reminded_at) as last_reminder "
        " from lookback_notice_reminders group by notice_id) as r on r.notice_id = n.notice_id "
        "order by n.lookback_id, n.hospital_id",
        parameters={"ids": lookback_ids},
        settings={"join_use_nulls": 1},
    ).result_rows
    out = []
    for notice_id, lb, hospital, units, recipients, sent, due, acked, reminders, last in rows:
        due_dt = _utc(due)
        out.append(
            {
                "notice_id": notice_id,
                "lookback_id": lb,
                "hospital_id": hospital,
                "units": list(units),
                "recipients": list(recipients),
                "sent_at": _utc(sent).isoformat(),
                "due_at": due_dt.isoformat(),
                "acknowledged_at": _utc(acked).isoformat() if acked else None,
                "status": "acknowledged" if acked else ("overdue" if now > due_dt else "open"),
                "reminders": int(reminders or 0),
                "last_reminder": _utc(last).isoformat() if last else None,
            }
        )
    return out


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def due_reminders(
    client: WarehouseClient, settings: Settings, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Notices overdue and not reminded within ``notice_reminder_every_hours``."""
    now = now or datetime.now(UTC)
    ids = [
        r[0]
        for r in client.query(
            "select distinct lookback_id from lookback_notices where due_at < {now:DateTime64(3)}",
            parameters={"now": now},
        ).result_rows
    ]
    if not ids:
        return []
    every = timedelta(hours=settings.supply.notice_reminder_every_hours)
    return [
        n
        for n in notice_status(client, ids, now)
        if n["status"] == "overdue"
        and (
            n["last_reminder"] is None or now - datetime.fromisoformat(n["last_reminder"]) >= every
        )
    ]


def send_reminders(
    client: WarehouseClient,
    settings: Settings,
    send: Callable[[list[tuple[bytes, bytes]]], None],
    now: datetime | None = None,
) -> int:
    """Remind every overdue hospital once (records via ``send``, then a row each)."""
    now = now or datetime.now(UTC)
    due = due_reminders(client, settings, now)
    if not due:
        return 0
    records = [
        (
            n["hospital_id"].encode(),
            orjson.dumps(
                {
                    "type": "lookback.notice_reminder",
                    "occurred_at": now.isoformat(),
                    "reminder": n["reminders"] + 1,
                    **{k: n[k] for k in ("notice_id", "lookback_id", "units", "recipients")},
                    "addressed_to": n["hospital_id"],
                    "due_at": n["due_at"],
                }
            ),
        )
        for n in due
    ]
    send(records)  # delivered before it is recorded: a crash between reminds twice, never 0
    client.insert(
        "lookback_notice_reminders",
        [
            (n["notice_id"], n["lookback_id"], n["hospital_id"], now, n["reminders"] + 1)
            for n in due
        ],
        column_names=["notice_id", "lookback_id", "hospital_id", "reminded_at", "reminder"],
    )
    return len(due)


def scheduled_reminders(settings: Settings) -> dict[str, Any]:
    """The platform's scheduled job: remind overdue hospitals on the notices topic."""
    from confluent_kafka import Producer as KafkaProducer

    from infra.warehouse import thread_client

    producer = KafkaProducer(
        {**settings.kafka.librdkafka(), "bootstrap.servers": settings.bootstrap_servers}
    )
    topic = settings.topic("notices")

    def send(records: list[tuple[bytes, bytes]]) -> None:
        for key, value in records:
            producer.produce(topic, value=value, key=key)
        if producer.flush(30):
            raise RuntimeError("reminders not confirmed by the broker")

    return {"reminded": send_reminders(thread_client(settings), settings, send)}
