"""The sink's exactly-once logic on an in-memory warehouse: identity decides, positions only
hint where to look, across restarts with other batch boundaries and broker resets."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from events_factory import donation

from models.alerts import ALERT_COLUMNS, Alert, alert_row
from models.rules import IngestRules
from models.validation import parse_event
from streams.sinks.warehouse import IDENTITY, Rows, Sourced, WarehouseSink

RULES = IngestRules(max_future_skew_seconds=10**9)


class MemoryStore:
    """Tables as lists of row dicts; tokens dedupe a retried block like ClickHouse does."""

    def __init__(self) -> None:
        self.tables: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.tokens: set[str] = set()
        self.lookups = 0

    def high_water(self, table: str) -> dict[int, int]:
        high: dict[int, int] = {}
        for row in self.tables[table]:
            p, o = row["src_partition"], row["src_offset"]
            high[p] = max(high.get(p, -1), o)
        return high

    def existing(
        self, table: str, key_columns: tuple[str, ...], keys: list[tuple[str, ...]]
    ) -> set[tuple[str, ...]]:
        self.lookups += 1
        held = {tuple(str(r[c]) for c in key_columns) for r in self.tables[table]}
        return held & set(keys)

    def event_positions(self, event_ids: list[str]) -> dict[str, tuple[int, int]]:
        wanted = set(event_ids)
        return {
            str(r["event_id"]): (r["src_partition"], r["src_offset"])
            for r in self.tables["events"]
            if str(r["event_id"]) in wanted
        }

    def insert(self, table: str, columns: list[str], rows: Rows, token: str) -> None:
        if token in self.tokens:
            return
        self.tokens.add(token)
        self.tables[table].extend(dict(zip(columns, row, strict=True)) for row in rows)

    def ids(self, table: str) -> list[str]:
        return [str(r["event_id"]) for r in self.tables[table]]


def sourced(events: list[dict[str, Any]], partition: int = 0, start: int = 0) -> list[Sourced]:
    import orjson

    out = []
    for i, event in enumerate(events):
        raw = orjson.dumps(event)
        out.append(Sourced(parse_event(raw, rules=RULES), raw, partition, start + i))
    return out


def test_a_broker_that_starts_again_at_offset_zero_loses_nothing() -> None:
    store = MemoryStore()
    WarehouseSink(store, "raw").write_events(sourced([donation(i) for i in range(50)]))
    after_reset = sourced([donation(i) for i in range(50, 80)])  # offsets 0..29 again
    split = WarehouseSink(store, "raw").write_events(after_reset)
    assert len(split.new) == 30
    assert len(store.ids("events")) == len(set(store.ids("events"))) == 80
    assert len(store.ids("donations")) == 80


def test_a_batch_re_read_with_other_boundaries_after_a_crash_is_written_once() -> None:
    store = MemoryStore()
    items = sourced([donation(i) for i in range(100)])
    sink = WarehouseSink(store, "raw")
    sink.write_events(items[:40])
    # Crash after the typed tables of the next batch, before `events`: rows in doubt.
    sink.write_tables({"donations": _typed(items[40:70])})
    restarted = WarehouseSink(store, "raw")
    split = restarted.write_events(items[30:100])  # re-read from an older commit
    assert [len(split.new), len(split.redelivered), len(split.resent)] == [60, 10, 0]
    assert sorted(store.ids("donations")) == sorted(store.ids("events"))
    assert len(store.ids("donations")) == len(set(store.ids("donations"))) == 100


def test_a_resent_event_and_a_message_delivered_twice_in_one_batch_are_dropped() -> None:
    store = MemoryStore()
    events = [donation(i) for i in range(10)]
    items = sourced(events)
    resent = sourced([events[3]], start=10)  # same event id, new offset
    split = WarehouseSink(store, "raw").write_events([*items, items[4], *resent])
    assert [len(split.new), len(split.resent)] == [10, 2]
    assert len(store.ids("events")) == 10


def test_rows_above_the_high_water_mark_are_not_looked_up() -> None:
    store = MemoryStore()
    sink = WarehouseSink(store, "raw")
    sink.write_events(sourced([donation(i) for i in range(10)]))
    before = store.lookups
    sink.write_events(sourced([donation(i) for i in range(10, 20)], start=10))
    assert store.lookups == before  # steady state: one events lookup, no typed-table scans


def test_an_alert_sent_again_in_another_block_is_stored_once() -> None:
    # A forward whose flush was not confirmed in time is retried: the alert is on the topic
    # twice, the copy above the partition's high water mark and in a block of its own (so the
    # block's insert token differs from the first one's).
    store = MemoryStore()
    lost, other = (
        Alert(rule="unit.lost", subject=din, message_en="lost", message_zh="丢失")
        for din in ("G123498654321", "G123498654322")
    )
    first = [alert_row(lost.to_record(), 0, 0), alert_row(other.to_record(), 0, 1)]
    again = [alert_row(lost.to_record(), 0, 2)]
    for block in (first, again):
        WarehouseSink(store, "alerts").write_tables({"alerts": (list(ALERT_COLUMNS), block)})
    assert sorted(r["alert_id"] for r in store.tables["alerts"]) == sorted(
        [lost.alert_id, other.alert_id]
    )


def test_identities_are_declared_for_every_table_the_sink_writes() -> None:
    assert {"events", "donations", "alerts", "rejected_events", "lookbacks"} <= set(IDENTITY)


def _typed(items: list[Sourced]) -> tuple[list[str], Rows]:
    from streams.sinks.warehouse import build_rows

    return build_rows(items)["donations"]
