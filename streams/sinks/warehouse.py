"""The ClickHouse sink: a batch of validated events becomes one block per table.

Exactly once in effect, by identity, with at-least-once delivery from Kafka:
1. Every row has an identity (``IDENTITY``): an event's ``event_id``, an alert's ``alert_id``,
   a rejection's ``rejection_id``... A row whose identity is already in its table is skipped,
   whatever its position in the broker, so a broker that lost its topics and starts again at
   offset 0, a re-created topic or a consumer group reset to earliest never hides an event.
2. ``events`` is written after every typed table: an event id found there is complete. A crash
   between the two leaves typed rows "in doubt"; the batch is re-read (it was not acknowledged)
   and those rows are found by identity. Source positions are only a hint of where to look:
   a row above the highest position a table held when the sink started cannot be there.
3. Each block carries ``insert_deduplication_token`` = table + a hash of the block's identities,
   so an insert retried after a lost answer is dropped by the table itself.
Every skip is counted by reason in ``SinkStats.skipped`` (exported by /metrics and status).
Offsets are acknowledged to Kafka only after every block of the batch is written.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, cast

from infra.tables import EVENTS_COLUMNS, TABLES
from infra.warehouse import WarehouseClient, insert
from models.events import PAYLOADS, EnvelopeBase
from models.privacy import mask_short, raw_evidence
from models.rules import IngestRules

log = logging.getLogger("bloodtrace.sink")
T = TypeVar("T")

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
    "rejection_id",
    "raw_size",
    "raw_sha256",
)
EVENTS_COLUMN_NAMES = [name for name, _ in EVENTS_COLUMNS]

# What makes a row the same row, per table. Typed tables (one per event type) use event_id.
IDENTITY: dict[str, tuple[str, ...]] = {
    "events": ("event_id",),
    "alerts": ("alert_id",),
    "rejected_events": ("rejection_id",),
    "lookbacks": ("lookback_id",),
    "lookback_units": ("lookback_id", "din", "product_code"),
    "recall_notices": ("recall_id", "din", "product_code"),
    "lookback_notices": ("notice_id",),
    **{spec.table: ("event_id",) for spec in TABLES.values()},
}
# Tables whose rows a processor sends again when a forward's flush was not confirmed in time
# (the retry): the copy comes at a new offset, above the high water mark, and in another block
# (another insert token), so every row of theirs is looked up by identity. Alerts are few; a
# doubled refusal (rejected_events) loses nothing and is left to the positions' hint.
RESENDABLE = frozenset({"alerts"})
# Columns of ClickHouse type UUID (their parameters are typed so the primary key is used).
_UUID_KEYS = {"event_id"}


@dataclass(frozen=True)
class Sourced:
    """A validated event and where it was read from."""

    event: EnvelopeBase
    raw: bytes
    partition: int
    offset: int

    @property
    def event_id(self) -> str:
        return str(self.event.event_id)


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
    rejection_id: str = ""
    # Of the input as it arrived, when ``raw`` is already cut (a dead-letter record's); else
    # taken from ``raw``.
    raw_size: int | None = None
    raw_sha256: str = ""

    def identity(self) -> str:
        """The rejection's id, or one derived from its content (the same record read twice
        is the same rejection)."""
        if self.rejection_id:
            return self.rejection_id
        text = "\x1f".join(
            (self.source, self.reason, self.detail, self.event_id, self.rejected_at.isoformat())
        )
        return hashlib.sha256(text.encode() + b"\x1f" + self.raw).hexdigest()[:32]


_LOOKUP_FIELDS = ("din", "product_code", "donor_id", "recipient_id", "equipment_id")
# Per event type, a getter for the lookup fields its payload has ('' for the others).
_LOOKUPS: dict[str, Callable[[Any], tuple[str, ...]]] = {}
for _name, _payload in PAYLOADS.items():
    _present = [f for f in _LOOKUP_FIELDS if f in _payload.model_fields]

    def _getter(payload: Any, present: list[str] = _present) -> tuple[str, ...]:
        found = {f: getattr(payload, f) for f in present}
        return tuple(found.get(f) or "" for f in _LOOKUP_FIELDS)

    _LOOKUPS[_name] = _getter

Rows = list[tuple[Any, ...]]
Tables = dict[str, tuple[list[str], Rows]]


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


def build_rows(items: Iterable[Sourced]) -> Tables:
    """table -> (column names, rows) for a batch of validated events; ``events`` comes last."""
    out: Tables = {}
    events_rows: Rows = []
    typed: dict[str, Rows] = defaultdict(list)
    for item in items:
        events_rows.append(_events_row(item))
        spec = TABLES[item.event.type]  # type: ignore[attr-defined]
        src = (item.partition, item.offset)
        typed[spec.table].extend(row + src for row in spec.rows(item.event))
    by_table = {spec.table: spec for spec in TABLES.values()}
    for table, rows in typed.items():
        out[table] = (by_table[table].column_names, rows)
    if events_rows:
        out["events"] = (EVENTS_COLUMN_NAMES, events_rows)
    return out


def rejected_rows(
    items: Iterable[Rejected], raw_limit: int = IngestRules().dead_letter_raw_bytes
) -> Rows:
    """Rows for rejected_events. Whatever a rejection carries (a dead-letter record may come from
    any producer), the row is bounded and holds no national ID number."""
    rows: Rows = []
    for r in items:
        evidence = raw_evidence(r.raw, raw_limit)
        rows.append(
            (
                r.rejected_at,
                mask_short(r.source, 50),
                mask_short(r.reason, 100),
                mask_short(r.detail),
                mask_short(r.event_id, 100),
                mask_short(r.event_type, 100),
                mask_short(r.facility_id, 100),
                evidence.text,
                r.partition,
                r.offset,
                r.identity(),
                evidence.size if r.raw_size is None else r.raw_size,
                r.raw_sha256 or evidence.sha256,
            )
        )
    return rows


def identity_token(table: str, keys: Iterable[tuple[Any, ...]]) -> str:
    """Deduplication token of a block: its table and the identities it holds."""
    digest = hashlib.sha256(table.encode())
    for key in sorted("\x1f".join(map(str, k)) for k in keys):
        digest.update(b"\x1e" + key.encode())
    return digest.hexdigest()[:32]


class SinkStore(Protocol):
    """What the sink needs from a warehouse (a ClickHouse client, or an in-memory fake)."""

    def high_water(self, table: str) -> dict[int, int]:
        """Highest source offset per partition held by ``table``."""
        ...

    def existing(
        self, table: str, key_columns: tuple[str, ...], keys: list[tuple[str, ...]]
    ) -> set[tuple[str, ...]]:
        """Which of ``keys`` (values of ``key_columns``, as strings) ``table`` holds."""
        ...

    def event_positions(self, event_ids: list[str]) -> dict[str, tuple[int, int]]:
        """(partition, offset) each of ``event_ids`` was stored from, for those in ``events``."""
        ...

    def insert(self, table: str, columns: list[str], rows: Rows, token: str) -> None: ...


# Identities per lookup query: a ClickHouse server refuses a query parameter over
# http_max_field_value_size (128 KiB by default); 1,000 UUIDs are about 40 KB.
LOOKUP_CHUNK = 1000


def chunks(values: Sequence[T], size: int = LOOKUP_CHUNK) -> list[Sequence[T]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


class ClickHouseStore:
    def __init__(self, client: WarehouseClient) -> None:
        self.client = client

    def high_water(self, table: str) -> dict[int, int]:
        rows = self.client.query(
            f"select src_partition, max(src_offset) from {table} group by src_partition"
        ).result_rows
        return {int(p): int(o) for p, o in rows}

    def existing(
        self, table: str, key_columns: tuple[str, ...], keys: list[tuple[str, ...]]
    ) -> set[tuple[str, ...]]:
        first = key_columns[0]
        kind = "UUID" if first in _UUID_KEYS else "String"
        found: set[tuple[str, ...]] = set()
        for ids in chunks(sorted({k[0] for k in keys})):
            rows = self.client.query(
                f"select distinct {', '.join(key_columns)} from {table} "
                f"where {first} in {{ids:Array({kind})}}",
                parameters={"ids": list(ids)},
            ).result_rows
            found.update(tuple(str(v) for v in row) for row in rows)
        return found

    def event_positions(self, event_ids: list[str]) -> dict[str, tuple[int, int]]:
        # The by_event_id projection makes this a primary-key read.
        positions: dict[str, tuple[int, int]] = {}
        for ids in chunks(event_ids):
            rows = self.client.query(
                "select event_id, any(src_partition), any(src_offset) from events "
                "where event_id in {ids:Array(UUID)} group by event_id",
                parameters={"ids": list(ids)},
            ).result_rows
            positions.update((str(r[0]), (int(r[1]), int(r[2]))) for r in rows)
        return positions

    def insert(self, table: str, columns: list[str], rows: Rows, token: str) -> None:
        insert(self.client, table, rows, columns, token=token)


@dataclass
class SinkStats:
    rows_written: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # Rows or events not written, by reason: "already_stored" (identity found in the table),
    # "repeated_in_batch" (the same identity twice in one block), "resent_event" (an event
    # id stored from another message, or twice in a batch).
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    last_batch_size: int = 0
    last_batch_seconds: float = 0.0


@dataclass
class EventSplit:
    """A batch of events sorted by what the sink must do with each."""

    new: list[Sourced]  # not stored yet: write, then forward
    redelivered: list[Sourced]  # stored from this very message: forward again, don't write
    resent: list[Sourced]  # the same event from another message: drop


class WarehouseSink:
    """Writes batches of one topic's records, each row once by its identity."""

    def __init__(self, store: WarehouseClient | SinkStore, topic: str) -> None:
        # Anything with the store's methods is a store (the unit tests' in-memory fake);
        # anything else is a ClickHouse client.
        self.store: SinkStore = (
            cast(SinkStore, store) if hasattr(store, "event_positions") else ClickHouseStore(store)
        )
        self.topic = topic
        self._hints: dict[str, dict[int, int]] = {}
        self.stats = SinkStats()

    @property
    def client(self) -> WarehouseClient:
        store = self.store
        assert isinstance(store, ClickHouseStore), "only a ClickHouse-backed sink has a client"
        return store.client

    def reset(self) -> None:
        """Forget cached positions (after a rebalance another worker may have written)."""
        self._hints.clear()

    def high_water(self, table: str) -> dict[int, int]:
        if table not in self._hints:
            self._hints[table] = self.store.high_water(table)
        return self._hints[table]

    def split(self, items: Sequence[Sourced]) -> EventSplit:
        """Sort a batch by identity against ``events`` and against itself."""
        out = EventSplit([], [], [])
        if not items:
            return out
        stored = self.store.event_positions(sorted({item.event_id for item in items}))
        seen: set[str] = set()
        for item in items:
            if item.event_id in seen:
                out.resent.append(item)
            elif item.event_id in stored:
                same = stored[item.event_id] == (item.partition, item.offset)
                (out.redelivered if same else out.resent).append(item)
            else:
                out.new.append(item)
            seen.add(item.event_id)
        return out

    def write_tables(self, tables: Tables, *, checked: frozenset[str] = frozenset()) -> int:
        """Write each table's block (in the given order), skipping rows already there;
        returns rows written. Tables in ``checked`` were looked up by the caller."""
        started = time.perf_counter()
        total = 0
        for table, (columns, rows) in tables.items():
            fresh = self._fresh(table, columns, rows, checked)
            if not fresh:
                continue
            key_idx = [columns.index(k) for k in IDENTITY[table]]
            keys = {tuple(str(r[i]) for i in key_idx) for r in fresh}
            self.store.insert(table, columns, fresh, identity_token(table, keys))
            if "src_partition" in columns:
                self._raise_hints(table, columns, fresh)
            self.stats.rows_written[table] += len(fresh)
            total += len(fresh)
        self.stats.last_batch_seconds = time.perf_counter() - started
        return total

    def _fresh(self, table: str, columns: list[str], rows: Rows, checked: frozenset[str]) -> Rows:
        """The rows of a block whose identity is in neither the table nor earlier rows."""
        key_idx = [columns.index(k) for k in IDENTITY[table]]

        def key(row: tuple[Any, ...]) -> tuple[str, ...]:
            return tuple(str(row[i]) for i in key_idx)

        # An identity's rows arrive together (an event's rows); the same identity again later
        # in the block is a repeat.
        seen: set[tuple[str, ...]] = set()
        unique: Rows = []
        previous: tuple[str, ...] | None = None
        repeat = False
        for row in rows:
            k = key(row)
            if k != previous:
                repeat, previous = k in seen, k
                seen.add(k)
            if repeat:
                self.stats.skipped["repeated_in_batch"] += 1
            else:
                unique.append(row)
        if table in checked:
            return unique
        doubtful = self._doubtful(table, columns, unique)
        if not doubtful:
            return unique
        there = self.store.existing(table, IDENTITY[table], sorted({key(r) for r in doubtful}))
        fresh = [r for r in unique if key(r) not in there]
        if len(fresh) < len(unique):
            skipped = len(unique) - len(fresh)
            self.stats.skipped["already_stored"] += skipped
            log.info("%s: %d row(s) already stored, skipped by identity", table, skipped)
        return fresh

    def _doubtful(self, table: str, columns: list[str], rows: Rows) -> Rows:
        """Rows that may already be in the table. Positions are a hint only: a row above the
        highest offset its partition had in the table cannot be there; any other row is
        looked up by identity (after a broker reset, offsets start again below it), as is
        every row of a table whose rows may be sent again (``RESENDABLE``)."""
        if "src_partition" not in columns or table == "events" or table in RESENDABLE:
            return rows
        p_idx, o_idx = columns.index("src_partition"), columns.index("src_offset")
        high = self.high_water(table)
        return [r for r in rows if r[o_idx] <= high.get(r[p_idx], -1)]

    def _raise_hints(self, table: str, columns: list[str], rows: Rows) -> None:
        p_idx, o_idx = columns.index("src_partition"), columns.index("src_offset")
        high = self.high_water(table)
        for row in rows:
            if row[o_idx] > high.get(row[p_idx], -1):
                high[row[p_idx]] = row[o_idx]

    def write_events(self, items: Sequence[Sourced]) -> EventSplit:
        """Write the events not stored yet (typed tables first, ``events`` last); returns the
        batch sorted by what was done with each event."""
        self.stats.last_batch_size = len(items)
        split = self.split(items)
        self.stats.skipped["resent_event"] += len(split.resent)
        self.stats.skipped["already_stored"] += len(split.redelivered)
        self.write_tables(build_rows(split.new), checked=frozenset({"events"}))
        return split

    def write_rejected(
        self, items: Sequence[Rejected], raw_limit: int = IngestRules().dead_letter_raw_bytes
    ) -> int:
        rows = rejected_rows(items, raw_limit)
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
    offset = sink.high_water("events").get(0, -1) + 1
    rejected_offset = sink.high_water("rejected_events").get(0, -1) + 1
    accepted = refused = 0
    good: list[Sourced] = []
    bad: list[Rejected] = []

    def flush() -> int:
        return len(sink.write_events(good).new)

    for item in events:
        raw = item if isinstance(item, bytes) else orjson.dumps(item)
        try:
            good.append(Sourced(parse_event(raw, rules=historic), raw, 0, offset))
            offset += 1
        except EventRejected as exc:
            bad.append(Rejected(exc.reason, exc.detail, raw, "direct", 0, rejected_offset))
            rejected_offset += 1
        if len(good) >= batch_size:
            accepted += flush()
            good = []
    if good:
        accepted += flush()
    if bad:
        refused = len(bad)
        sink.write_rejected(bad)
    return accepted, refused
