"""Faust table state: its size per unit, extrapolated to 10 M units, and the time to replay it
from the changelogs after a restart, against the time the whole worker took to build it.

One real Tansu broker (memory storage) and a chDB warehouse. The whole worker (spine and every
processor) consumes the pipeline bench's events until every processor has committed; the
tables are then measured (entries, and bytes as a RocksDB store would hold them: key and value
serialised). The app is stopped and a new app with the same id starts on the same broker: its
tables are rebuilt from the changelog topics; the replay is timed until Faust says recovery is
complete and every table holds as many entries as before.

Entry point: ``run(events: int = 45_000, quick: bool = False) -> dict``.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from typing import Any

import orjson
from faust.contrib.asgi import faust_app_running

from bench._broker import memory_broker
from bench.pipeline_bench import fill_topic, make_events
from infra.broker import ensure_topics
from infra.settings import Settings
from infra.warehouse import connect, migrate
from streams.app import create_app

AIM_UNITS = 10_000_000


def _serialised(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, str):
        return len(value.encode())
    return len(orjson.dumps(value, default=str))


def table_entries(app: Any) -> dict[str, int]:
    return {name: len(table.data.data) for name, table in app.tables.items()}


def _in_memory(value: Any) -> int:
    """Bytes of a key or value as Python objects (containers included, shared ones not)."""
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(_in_memory(k) + _in_memory(v) for k, v in value.items())
    elif isinstance(value, list | tuple | set):
        size += sum(_in_memory(v) for v in value)
    return size


def table_sizes(app: Any) -> dict[str, dict[str, int]]:
    """Entries, serialised bytes (keys and values, as RocksDB would hold them) and bytes as
    Python objects in the memory store (plus the store dict's own slots) of every table."""
    sizes: dict[str, dict[str, int]] = {}
    for name, table in app.tables.items():
        data = table.data.data  # the memory store's dict
        sizes[name] = {
            "entries": len(data),
            "bytes": sum(_serialised(k) + _serialised(v) for k, v in data.items()),
            "memory_bytes": sys.getsizeof(data)
            + sum(_in_memory(k) + _in_memory(v) for k, v in data.items()),
        }
    return sizes


def all_committed(app: Any) -> bool:
    """Every partition the worker consumes (not the tables' changelogs) committed to its end:
    the processors' own repartition hops (lifecycle.donors) included."""
    consumer = app.consumer
    tps = [tp for tp in consumer.assignment() if tp.topic not in app.tables.changelog_topics]
    for tp in tps:
        high = consumer.highwater(tp)
        if high is None or (consumer._committed_offset.get(tp) or 0) < high:
            return False
    return bool(tps)


async def _build(settings: Settings, timeout: float) -> dict[str, Any]:
    """Run the whole worker until every topic it consumes is committed and its tables stop
    changing; returns the seconds it took and the tables' sizes."""
    ctx = create_app(settings)
    app: Any = ctx.app  # tables.recovery and the stores are not on the public types
    started = time.monotonic()
    try:
        async with faust_app_running(app, stop_timeout=30):
            last: dict[str, int] = {}
            ready: float | None = None
            while time.monotonic() < started + timeout:
                if ready is None and app.tables.recovery.completed.is_set():
                    ready = time.monotonic() - started
                entries = table_entries(app)
                if all_committed(app) and entries == last and any(entries.values()):
                    return {
                        "seconds": round(time.monotonic() - started, 2),
                        "ready_seconds": round(ready or 0.0, 2),
                        "tables": table_sizes(app),
                        "keys": {n: set(t.data.data) for n, t in app.tables.items()},
                    }
                last = entries
                await asyncio.sleep(1.0)
            raise TimeoutError(f"the worker did not finish in {timeout:g} s: {table_entries(app)}")
    finally:
        ctx.warehouse_executor.shutdown(wait=True)


async def _replay(
    settings: Settings,
    expected: dict[str, dict[str, int]],
    expected_keys: dict[str, set[Any]],
    timeout: float,
) -> dict[str, Any]:
    ctx = create_app(settings)
    app: Any = ctx.app  # tables.recovery and the stores are not on the public types
    started = time.monotonic()
    try:
        async with faust_app_running(app, stop_timeout=30):
            want = {name: sizes["entries"] for name, sizes in expected.items()}
            stable_since, last = time.monotonic(), table_entries(app)
            # Done when every table holds what it held before, or recovery is complete and
            # nothing has changed for 10 s (then what is missing is reported, not waited for).
            while time.monotonic() < started + timeout:
                entries = table_entries(app)
                if entries != last:
                    stable_since, last = time.monotonic(), entries
                complete = app.tables.recovery.completed.is_set()
                if complete and (entries == want or time.monotonic() - stable_since > 10):
                    break
                await asyncio.sleep(0.05)
            seconds = time.monotonic() - started
            if entries != want:
                seconds = stable_since - started
            missing = {
                name: len(keys - set(app.tables[name].data.data))
                for name, keys in expected_keys.items()
            }
            return {
                "seconds": round(seconds, 2),
                "entries": entries,
                "missing_after_replay": {n: m for n, m in missing.items() if m},
            }
    finally:
        ctx.warehouse_executor.shutdown(wait=True)


def run(events: int = 45_000, quick: bool = False) -> dict[str, Any]:
    if quick:
        events = 6_000
    with memory_broker("bloodtrace-state-bench-", topics=False) as (base, _):
        settings = base.model_copy(
            update={"app_id": f"state-{uuid.uuid4().hex[:6]}", "warehouse_database": "bench_state"}
        )
        ensure_topics(settings)
        fill_topic(settings, "events.raw", make_events(events))
        migrate(connect(settings))
        build = asyncio.run(_build(settings, timeout=120 if quick else 900))
        measured = build["tables"]
        units = (events + 2) // 3  # make_events: a donation and a test panel per unit
        replay = asyncio.run(
            _replay(settings, measured, build["keys"], timeout=120 if quick else 900)
        )
        per_unit = sum(t["bytes"] for t in measured.values()) / units
        memory_per_unit = sum(t["memory_bytes"] for t in measured.values()) / units
        return {
            "events": events,
            "units": units,
            "tables": measured,
            "bytes_per_unit": round(per_unit, 1),
            "aim_units": AIM_UNITS,
            "state_gib_at_aim": round(per_unit * AIM_UNITS / 2**30, 2),
            "memory_bytes_per_unit": round(memory_per_unit, 1),
            "memory_gib_at_aim": round(memory_per_unit * AIM_UNITS / 2**30, 2),
            "build_seconds": build["seconds"],
            # start to "recovery complete" with empty changelogs: the start a replay adds to
            "empty_start_seconds": build["ready_seconds"],
            "replay_seconds": replay["seconds"],
            "replay_entries": replay["entries"],
            # keys held before the restart and not after it (0 everywhere when nothing is lost)
            "missing_after_replay": replay["missing_after_replay"],
            "replay_units_per_s": round(units / replay["seconds"]) if replay["seconds"] else None,
            "replay_ratio": round(replay["seconds"] / build["ready_seconds"], 3)
            if build["ready_seconds"]
            else None,
            "store": "memory://",
        }
