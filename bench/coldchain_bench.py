"""Cold-chain throughput: temperature readings one worker checks against the excursion rules,
against a bare Faust consume loop over the same topic, in one run.

Entry point: ``run(readings: int = 100_000, equipment: int = 100, rounds: int = 2,
quick: bool = False) -> dict`` (``quick``: 10,000 readings from 20 fridges, one round).

Both read the same pre-filled ``events.valid`` topic on a real Tansu broker, each with a fresh
consumer group:
- baseline: a Faust agent that takes batches of raw bytes and counts them;
- cold chain: the platform's cold-chain processor alone (streams/processors/coldchain.py):
  parse each reading, run the excursion state machine per equipment, keep the Faust tables
  (with changelogs), write excursion and flag rows to chDB, raise alerts, check for silent
  sensors.
The topic holds a few unit placements first (five units per equipment, through the
``coldchain.contents`` repartition topic), then readings a minute apart per equipment, in range
except for a 40-minute warm spell per equipment every 500 readings (confirmed, units flagged).
Timing runs from the first batch taken to the last reading counted, so the group join is not
counted for either. Rounds alternate (baseline, cold chain, …); the report gives each round and
the median ratio. Aim: ≥ 5,000 readings/s.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
import orjson
from faust.contrib.asgi import faust_app_running

from bench._broker import memory_broker
from bench.pipeline_bench import _bare_loop, fill_topic
from infra.settings import Settings
from infra.warehouse import connect, migrate
from models.isbt128 import make_din
from streams.app import PlatformContext, faust_app
from streams.metrics import Metrics
from streams.processors import coldchain

TARGET_PER_S = 5_000
BASE = datetime(2026, 1, 1, tzinfo=UTC)


def _event(event_type: str, at: datetime, payload: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "type": event_type,
            "schema_version": 1,
            "occurred_at": at.isoformat().replace("+00:00", "Z"),
            "recorded_at": (at + timedelta(seconds=2)).isoformat().replace("+00:00", "Z"),
            "facility_id": "H01",
            "payload": payload,
        }
    )


def make_events(readings: int, equipment: int) -> tuple[list[tuple[bytes, bytes]], int]:
    """(key, value) pairs as the platform forwards them to events.valid; and the number of
    excursions that pass the tolerance."""
    out: list[tuple[bytes, bytes]] = []
    for e in range(equipment):
        for u in range(5):
            din = make_din("H0001", 26, e * 5 + u)
            produced = {
                "din": din,
                "product_code": "E0336V00",
                "component_type": "red_cells",
                "volume_ml": 280,
                "expires_at": (BASE + timedelta(days=30)).isoformat(),
                "abo_rh": "O+",
            }
            stored = {
                "din": din,
                "product_code": "E0336V00",
                "location_id": "BB",
                "equipment_id": f"FR{e:03d}",
            }
            at = BASE - timedelta(hours=2)
            out.append((din[:13].encode(), _event("component.produced", at, produced)))
            out.append((din[:13].encode(), _event("unit.stored", at, stored)))
    per_equipment = readings // equipment
    confirmed = 0
    for minute in range(per_equipment):
        warm = minute % 500 >= 450 and minute % 500 < 490  # 40 min out, every 500 readings
        if minute % 500 == 450 and minute + 40 <= per_equipment:
            confirmed += equipment
        for e in range(equipment):
            payload = {
                "equipment_id": f"FR{e:03d}",
                "equipment_kind": "fridge",
                "temperature_c": 8.5 if warm else 4.0 + (minute % 7) / 10,
                "interval_seconds": 60,
            }
            at = BASE + timedelta(minutes=minute)
            out.append((f"FR{e:03d}".encode(), _event("storage.temperature_recorded", at, payload)))
    return out, confirmed


def _fill_topic(settings: Settings, events: list[tuple[bytes, bytes]]) -> None:
    # The platform's forwarder is librdkafka with its default partitioner: the same here, so
    # readings and placements land where the platform would put them.
    fill_topic(settings, "events.valid", events)


def _app(settings: Settings, app_id: str) -> faust.App:
    """A Faust app configured as the platform's (streams/app.py), on one replica."""
    return faust_app(settings, app_id, app_id, topic_replication_factor=1)


async def _time_consumption(app: faust.App, state: dict[str, Any], timeout: float = 900) -> float:
    async with faust_app_running(app, stop_timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if state["finished"] is not None:
                return float(state["finished"] - state["started"])
            await asyncio.sleep(0.02)
    raise TimeoutError("consumption did not finish")


def _coldchain(settings: Settings, readings: int) -> tuple[float, dict[str, float]]:
    ctx = PlatformContext(settings=settings, app=_app(settings, settings.app_id), metrics=Metrics())
    processor = coldchain.register(ctx)
    state: dict[str, Any] = {"started": None, "finished": None, "last": None}
    prepare, complete = processor.prepare, processor.complete
    registry = ctx.metrics.registry

    def timed_prepare(events: list[Any], records: list[Any] | None = None) -> coldchain.Prepared:
        if state["started"] is None:
            state["started"] = time.monotonic()
        prepared = prepare(events, records)
        checked = registry.get_sample_value("bloodtrace_coldchain_readings_total") or 0
        if checked >= readings and state["last"] is None:
            state["last"] = prepared  # the batch holding the last reading
        return prepared

    def timed_complete(prepared: Any) -> None:
        # Done when the batch holding the last reading is written and its tables updated.
        complete(prepared)
        if prepared is state["last"] and state["finished"] is None:
            state["finished"] = time.monotonic()

    processor.prepare = timed_prepare  # type: ignore[method-assign]
    processor.complete = timed_complete  # type: ignore[method-assign]
    try:
        seconds = asyncio.run(_time_consumption(ctx.app, state))
    finally:
        ctx.warehouse_executor.shutdown(wait=True)
    counts = {
        "excursions_confirmed": registry.get_sample_value(
            "bloodtrace_coldchain_excursions_confirmed_total"
        )
        or 0,
        "units_flagged": registry.get_sample_value(
            "bloodtrace_coldchain_units_flagged_total", {"reason": "excursion"}
        )
        or 0,
    }
    return seconds, counts


def run(
    readings: int = 100_000, equipment: int = 100, rounds: int = 2, quick: bool = False
) -> dict[str, Any]:
    if quick:
        readings, equipment, rounds = 10_000, 20, 1
    readings = readings // equipment * equipment
    with memory_broker("bloodtrace-coldchain-bench-") as (settings, _):
        events, expected_confirmed = make_events(readings, equipment)
        print(f"filling {settings.topic('events.valid')} with {len(events):,} events…", flush=True)
        _fill_topic(settings, events)
        results = []
        for round_no in range(rounds):
            bare = _bare_loop(settings, len(events), "events.valid").seconds
            run_settings = settings.model_copy(
                update={
                    "app_id": f"coldchain-{round_no}-{uuid.uuid4().hex[:4]}",
                    "warehouse_database": f"bench_{round_no}",
                }
            )
            client = connect(run_settings)
            migrate(client)
            seconds, counts = _coldchain(run_settings, readings)
            if counts["excursions_confirmed"] != expected_confirmed:
                raise RuntimeError(
                    f"{counts['excursions_confirmed']:.0f} excursions confirmed, "
                    f"expected {expected_confirmed}"
                )
            rows = client.query(
                "select count() from coldchain_excursions final where status = 'ended_confirmed'"
            ).result_rows[0][0]
            bare_rate = len(events) / bare
            rate = readings / seconds
            results.append(
                {
                    "bare_events_per_s": round(bare_rate),
                    "coldchain_readings_per_s": round(rate),
                    "ratio": round(rate / bare_rate, 3),
                    "excursions_confirmed": int(counts["excursions_confirmed"]),
                    "excursion_rows_ended_confirmed": int(rows),
                    "units_flagged": int(counts["units_flagged"]),
                }
            )
            print(f"round {round_no + 1}: {results[-1]}", flush=True)
        median_rate = statistics.median(r["coldchain_readings_per_s"] for r in results)
        return {
            "readings": readings,
            "equipment": equipment,
            "events_in_topic": len(events),
            "rounds": results,
            "median_readings_per_s": round(median_rate),
            "median_ratio": round(statistics.median(r["ratio"] for r in results), 3),
            "target_readings_per_s": TARGET_PER_S,
            "meets_target": median_rate >= TARGET_PER_S,
        }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv[1:]), indent=2))
