"""End-to-end pipeline throughput against a bare Faust consume loop, in one run.

Both read the same pre-filled topic on a real Tansu broker with a fresh consumer group each:
- baseline: a Faust agent that takes batches of raw bytes and does nothing with them;
- pipeline: the platform's own app (validate, drop resent ids, write every warehouse table,
  forward to events.valid, keep refused events), i.e. validation to warehouse rows, timed
  twice: until the spine has handled every event ("pipeline"), and until the processors
  (lifecycle, cold chain, inventory) have also finished every event it forwarded ("whole
  worker": their offsets on events.valid committed, so up to one commit interval late).
Timing runs from the first event consumed to the last one handled, so the ~3 s group join is
not counted for either. Rounds alternate (baseline, pipeline, baseline, …) because the machine
is noisy; the report gives each round and the median ratio.

Entry point: ``run(events: int = 100_000, rounds: int = 2) -> dict``.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import faust
import orjson
from confluent_kafka import Producer as KafkaProducer
from faust.contrib.asgi import faust_app_running
from faust.transport.consumer import Consumer

from bench._broker import memory_broker
from infra.settings import Settings
from infra.warehouse import connect, migrate
from models.isbt128 import make_din
from models.pseudonym import pseudonymise
from sdk.producer import produce_waiting
from sdk.signing import PLATFORM_SIGNER, headers_for, platform_key
from streams.app import create_app, faust_app


def make_events(count: int, first: int = 0) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs: a realistic mix of donations, test panels and temperature readings;
    ``first`` continues a series (the n-th event is the same in every call)."""
    key = b"bench"
    out: list[tuple[bytes, bytes]] = []
    base = datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(first, first + count):
        at = base + timedelta(seconds=i * 7)
        din = make_din("C4501", 25, i // 3)
        kind = i % 3
        if kind == 0:
            event_type = "donation.collected"
            payload: dict[str, Any] = {
                "din": din,
                "donor_id": pseudonymise(f"ID{i}", key),
                "donation_kind": "whole_blood",
                "volume_ml": 400,
                "site_id": f"S{i % 12:02d}",
                "site_kind": "fixed_house",
                "county_code": f"C{i % 6:02d}",
                "abo_rh": "O+",
                "donor_group": "student",
                "donor_age": 18 + i % 30,
                "donor_sex": "M" if i % 3 else "F",
                "first_time": bool(i % 2),
            }
        elif kind == 1:
            event_type = "test.result_recorded"
            payload = {
                "din": din,
                "round": 1,
                "results": [
                    {"marker": m, "method": "ELISA", "reactive": False}
                    for m in ("HBsAg", "anti-HCV", "anti-HIV", "anti-TP")
                ]
                + [{"marker": "ALT", "method": "rate", "reactive": False, "value": 22.0}],
            }
        else:
            event_type = "storage.temperature_recorded"
            payload = {
                "equipment_id": f"FR{i % 40:02d}",
                "equipment_kind": "fridge",
                "temperature_c": 4.0 + (i % 10) / 10,
            }
        event = {
            "event_id": str(uuid.UUID(int=i + 1, version=4)),
            "type": event_type,
            "schema_version": 1,
            "occurred_at": at.isoformat().replace("+00:00", "Z"),
            "recorded_at": (at + timedelta(seconds=3)).isoformat().replace("+00:00", "Z"),
            "facility_id": "BS01",
            "payload": payload,
        }
        partition_key = payload.get("din") or payload["equipment_id"]
        out.append((partition_key[:13].encode(), orjson.dumps(event)))
    return out


def _fill_topic(settings: Settings, events: list[tuple[bytes, bytes]]) -> None:
    fill_topic(settings, "events.raw", events)


def fill_topic(settings: Settings, name: str, events: list[tuple[bytes, bytes]]) -> None:
    """Produce (key, value) pairs to the topic ``name`` with librdkafka's default partitioner."""
    producer = KafkaProducer(
        {"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 20, "acks": "all"}
    )
    topic = settings.topic(name)
    # Signed as the platform's own producers sign (sdk/signing.py): with auth on (the
    # default) the stream refuses unsigned events, and the bench measures the check too.
    signing = (PLATFORM_SIGNER, platform_key(settings.signing_master()))
    signed = settings.auth.enabled and name == "events.raw"
    for key, value in events:
        headers = headers_for(*signing, value) if signed else None
        produce_waiting(producer, topic, value, key, headers=headers)
    producer.flush(120)


@dataclass
class Timing:
    """Wall seconds from the first event consumed to the end, and the CPU seconds this
    process (every thread: Faust's loop, the warehouse thread, chDB's) spent meanwhile. On a
    machine shared with other jobs, CPU per event is the steadier figure."""

    seconds: float
    cpu_seconds: float


async def _time_consumption(
    app: faust.App, done: Any, timeout: float = 600, until: str = "finished"
) -> Timing:
    """Timing from the first event consumed to ``done()[until]`` being set."""
    async with faust_app_running(app, stop_timeout=30):
        deadline = time.monotonic() + timeout
        first: float | None = None
        cpu_first = time.process_time()
        while time.monotonic() < deadline:
            state = done()
            if first is None and state["started"]:
                first = state["started"]
                cpu_first = time.process_time()
            if state[until]:
                return Timing(
                    float(state[until] - (first or state["started"])),
                    time.process_time() - cpu_first,
                )
            await asyncio.sleep(0.02)
    raise TimeoutError("consumption did not finish")


def _bare_loop(settings: Settings, total: int, topic_name: str = "events.raw") -> Timing:
    """Faust alone, configured as the platform's (streams.app.faust_app), taking ``total``
    events of ``topic_name`` in batches: the ceiling a pipeline is compared with."""
    app = faust_app(settings, f"bare-{uuid.uuid4().hex[:6]}", "bare")
    topic = app.topic(settings.topic(topic_name), value_type=bytes, key_type=bytes)
    state: dict[str, Any] = {"count": 0, "started": None, "finished": None}

    @app.agent(topic)
    async def consume(stream: faust.StreamT[bytes]) -> None:
        async for batch in cast("faust.Stream[bytes]", stream).take_events(
            settings.sink_batch_size, within=settings.sink_batch_seconds
        ):
            if state["started"] is None:
                state["started"] = time.monotonic()
            state["count"] += len(batch)
            if state["count"] >= total and state["finished"] is None:
                state["finished"] = time.monotonic()

    return asyncio.run(_time_consumption(app, lambda: state))


def _pipeline(settings: Settings, total: int) -> tuple[float, Timing]:
    """(seconds until the spine handled every event, seconds until the processors also
    finished every event it forwarded: their offsets on events.valid committed)."""
    ctx = create_app(settings)
    metrics = ctx.metrics
    app = ctx.app
    valid = settings.topic("events.valid")
    state: dict[str, Any] = {"started": None, "finished": None, "drained": None}

    def processed_everything() -> bool:
        consumer = cast(Consumer, app.consumer)  # committed offsets are not on ConsumerT
        tps = [tp for tp in consumer.assignment() if tp.topic == valid]
        if not tps:
            return False
        for tp in tps:
            high = consumer.highwater(tp)
            committed = consumer._committed_offset.get(tp) or 0
            if high is None or committed < high:
                return False
        return True

    def done() -> dict[str, Any]:
        # Counter values read directly: a registry snapshot every poll costs the loop itself.
        handled = metrics.accepted._value.get() + metrics.duplicates._value.get()
        if state["started"] is None and metrics.sink_batch_seconds._sum.get():
            # first batch finished: back-date by its own duration to its first event
            state["started"] = time.monotonic() - float(metrics.sink_batch_seconds._sum.get())
        if handled >= total and state["finished"] is None:
            state["finished"] = time.monotonic()
        if state["finished"] and state["drained"] is None and processed_everything():
            state["drained"] = time.monotonic()
        return state

    try:
        whole = asyncio.run(_time_consumption(app, done, until="drained"))
        return state["finished"] - state["started"], whole
    finally:
        ctx.warehouse_executor.shutdown(wait=True)


def run(events: int = 100_000, rounds: int = 2) -> dict[str, Any]:
    with memory_broker("bloodtrace-bench-") as (settings, _):
        print(f"filling {settings.topic('events.raw')} with {events:,} events…", flush=True)
        _fill_topic(settings, make_events(events))
        results = []
        for round_no in range(rounds):
            bare = _bare_loop(settings, events)
            db = f"bench_{round_no}"
            run_settings = settings.model_copy(
                update={
                    "app_id": f"pipeline-{round_no}-{uuid.uuid4().hex[:4]}",
                    "warehouse_database": db,
                }
            )
            migrate(connect(run_settings))
            full, whole = _pipeline(run_settings, events)
            rows = connect(run_settings).query("select count() from events").result_rows[0][0]
            if rows != events:
                raise RuntimeError(f"pipeline wrote {rows} events, expected {events}")
            results.append(
                {
                    "bare_events_per_s": round(events / bare.seconds),
                    "pipeline_events_per_s": round(events / full),
                    "ratio": round(bare.seconds / full, 3),
                    # until every processor also finished every event (offsets committed,
                    # so up to one commit interval, 2.8 s, late)
                    "whole_worker_events_per_s": round(events / whole.seconds),
                    "whole_worker_ratio": round(bare.seconds / whole.seconds, 3),
                    # CPU of this process per event: steadier than wall time under load
                    "bare_cpu_us_per_event": round(bare.cpu_seconds / events * 1e6, 1),
                    "whole_worker_cpu_us_per_event": round(whole.cpu_seconds / events * 1e6, 1),
                    "cpu_ratio": round(bare.cpu_seconds / whole.cpu_seconds, 3),
                }
            )
            print(f"round {round_no + 1}: {results[-1]}", flush=True)
        return {
            "events": events,
            "rounds": results,
            "median_bare_events_per_s": statistics.median(r["bare_events_per_s"] for r in results),
            "median_pipeline_events_per_s": statistics.median(
                r["pipeline_events_per_s"] for r in results
            ),
            "median_ratio": statistics.median(r["ratio"] for r in results),
            "median_whole_worker_events_per_s": statistics.median(
                r["whole_worker_events_per_s"] for r in results
            ),
            "median_whole_worker_ratio": statistics.median(
                r["whole_worker_ratio"] for r in results
            ),
            "median_whole_worker_cpu_us_per_event": statistics.median(
                r["whole_worker_cpu_us_per_event"] for r in results
            ),
            "median_bare_cpu_us_per_event": statistics.median(
                r["bare_cpu_us_per_event"] for r in results
            ),
            "median_cpu_ratio": statistics.median(r["cpu_ratio"] for r in results),
        }


if __name__ == "__main__":
    import sys

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(orjson.dumps(run(count), option=orjson.OPT_INDENT_2).decode())
