"""The ClickHouse sink: a batch of validated events becomes one block per table.

Exactly-once in effect, with at-least-once delivery from Kafka:
1. each block carries ``insert_deduplication_token`` = table + the batch's (partition, offset)
   span, so an insert retried with the same batch is dropped by the table itself; and
2. after a restart the batch boundaries may differ, so the sink first reads, per table and
   partition, the highest source offset already written and skips rows at or below it.
   Rows of one partition arrive in offset order and one insert is one atomic part, so
   "offset <= highest written" means "already there".
Offsets are acknowledged to Kafka only after every block of the batch is written.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from infra.tables import EVENTS_COLUMNS, TABLES
from infra.warehouse import WarehouseClient, insert
from models.events import PAYLOADS, EnvelopeBase

REJECTED_COLUMNS = (
    "rejected_at",
    "source",
    "reason",
    "detail",
    "event_id",
    "event_type",
    "facility_id",
    "raw",
    "src_partition",
    "src_offset",
)
EVENTS_COLUMN_NAMES = [name for name, _ in EVENTS_COLUMNS]


@dataclass(frozen=True)
class Sourced:
    """A validated event and where it was read from."""

    event: EnvelopeBase
    raw: bytes
    partition: int
    offset: int


@dataclass
class Rejected:
    reason: str
    detail: str
    raw: bytes
    source: str = "stream"
    partition: int = 0
    offset: int = 0
    event_id: str = ""
    event_type: str = ""
    facility_id: str = ""
    rejected_at: datetime = field(default_factory=lambda: datetime.now(UTC))


_LOOKUP_FIELDS = ("din", "product_code", "donor_id", "recipient_id", "equipment_id")
# Per event type, a getter for the lookup fields its payload has ('' for the others).
_LOOKUPS: dict[str, Callable[[Any], tuple[str, ...]]] = {}
for _name, _payload in PAYLOADS.items():
    _present = [f for f in _LOOKUP_FIELDS if f in _payload.model_fields]

    def _getter(payload: Any, present: list[str] = _present) -> tuple[str, ...]:
        found = {f: getattr(payload, f) for f in present}
        return tuple(found.get(f) or "" for f in _LOOKUP_FIELDS)

    _LOOKUPS[_name] = _getter


def _events_row(item: Sourced) -> tuple[Any, ...]:
    e: Any = item.event
    return (
        e.event_id,
        e.type,
        e.schema_version,
        e.occurred_at,
        e.recorded_at,
        e.facility_id,
        *_LOOKUPS[e.type](e.payload),
        item.raw.decode("utf-8", errors="replace"),
        item.partition,
        item.offset,
    )


def build_rows(items: Iterable[Sourced]) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """table -> (column names, rows) for a batch of validated events."""
    out: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
    events_rows: list[tuple[Any, ...]] = []
    typed: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for item in items:
        events_rows.append(_events_row(item))
        spec = TABLES[item.event.type]  # type: ignore[attr-defined]
        src = (item.partition, item.offset)
        typed[spec.table].extend(row + src for row in spec.rows(item.event))
    if events_rows:
        out["events"] = (EVENTS_COLUMN_NAMES, events_rows)
    by_table = {spec.table: spec for spec in TABLES.values()}
    for table, rows in typed.items():
        out[table] = (by_table[table].column_names, rows)
    return out


def rejected_rows(items: Iterable[Rejected]) -> list[tuple[Any, ...]]:
    return [
        (
            r.rejected_at,
            r.source,
            r.reason,
            r.detail,
            r.event_id,
            r.event_type,
            r.facility_id,
            r.raw.decode("utf-8", errors="replace"),
            r.partition,
            r.offset,
        )
        for r in items
    ]


def batch_token(table: str, spans: dict[int, tuple[int, int]]) -> str:
    text = table + ";" + ";".join(f"{p}:{lo}-{hi}" for p, (lo, hi) in sorted(spans.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _spans(rows: Sequence[tuple[Any, ...]], p_idx: int, o_idx: int) -> dict[int, tuple[int, int]]:
    spans: dict[int, tuple[int, int]] = {}
    for row in rows:
        p, o = row[p_idx], row[o_idx]
        lo, hi = spans.get(p, (o, o))
        spans[p] = (min(lo, o), max(hi, o))
    return spans


@dataclass
class SinkStats:
    rows_written: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    last_batch_size: int = 0
    last_batch_seconds: float = 0.0


class WarehouseSink:
    """Writes batches of one topic's records; remembers what is already in each table."""

    def __init__(self, client: WarehouseClient, topic: str) -> None:
        self.client = client
        self.topic = topic
        self._written: dict[str, dict[int, int]] = {}
        self.stats = SinkStats()

    def reset(self) -> None:
        """Forget cached high-water marks (after a rebalance another worker may have written)."""
        self._written.clear()

    def _high_water(self, table: str) -> dict[int, int]:
        if table not in self._written:
            rows = self.client.query(
                f"select src_partition, max(src_offset) from {table} group by src_partition"
            ).result_rows
            self._written[table] = {int(p): int(o) for p, o in rows}
        return self._written[table]

    def write_tables(self, tables: dict[str, tuple[list[str], list[tuple[Any, ...]]]]) -> int:
        """Write each table's block, skipping rows already written; returns rows written."""
        started = time.perf_counter()
        total = 0
        for table, (columns, rows) in tables.items():
            p_idx, o_idx = columns.index("src_partition"), columns.index("src_offset")
            high = self._high_water(table)
            fresh = [r for r in rows if r[o_idx] > high.get(r[p_idx], -1)]
            if not fresh:
                continue
            spans = _spans(fresh, p_idx, o_idx)
            insert(self.client, table, fresh, columns, token=batch_token(table, spans))
            for p, (_, hi) in spans.items():
                high[p] = max(high.get(p, -1), hi)
            self.stats.rows_written[table] += len(fresh)
            total += len(fresh)
        self.stats.last_batch_seconds = time.perf_counter() - started
        return total

    def write_events(self, items: Sequence[Sourced]) -> int:
        self.stats.last_batch_size = len(items)
        return self.write_tables(build_rows(items))

    def write_rejected(self, items: Sequence[Rejected]) -> int:
        rows = rejected_rows(items)
        return self.write_tables({"rejected_events": (list(REJECTED_COLUMNS), rows)})


def load_direct(
    client: WarehouseClient, events: Iterable[bytes | dict[str, Any]], *, batch_size: int = 20000
) -> tuple[int, int]:
    """Validate wire events and write them straight into the warehouse, bypassing Kafka.

    For tests, seeds and benchmarks that need a loaded warehouse fast. Rows get synthetic
    source offsets on partition 0 continuing after what is there, so it can be called again.
    Returns (accepted, rejected); rejected events are kept in rejected_events with the reason.
    """
    import orjson

    from infra.errors import EventRejected  # local: keeps the sink import light
    from models.rules import IngestRules
    from models.validation import parse_event

    # Historic loads may hold simulated future days; the future check does not apply.
    historic = IngestRules(max_event_bytes=1 << 20, max_future_skew_seconds=10**9)
    sink = WarehouseSink(client, topic="direct")
    offset = sink._high_water("events").get(0, -1) + 1
    rejected_offset = sink._high_water("rejected_events").get(0, -1) + 1
    accepted = refused = 0
    good: list[Sourced] = []
    bad: list[Rejected] = []
    for item in events:
        raw = item if isinstance(item, bytes) else orjson.dumps(item)
        try:
            good.append(Sourced(parse_event(raw, rules=historic), raw, 0, offset))
            offset += 1
        except EventRejected as exc:
            bad.append(Rejected(exc.reason, exc.detail, raw, "direct", 0, rejected_offset))
            rejected_offset += 1
        if len(good) >= batch_size:
            accepted += len(good)
            sink.write_events(good)
            good = []
    if good:
        accepted += len(good)
        sink.write_events(good)
    if bad:
        refused = len(bad)
        sink.write_rejected(bad)
    return accepted, refused
