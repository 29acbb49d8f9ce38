"""History import: `bloodtrace emit` of an export file into a running worker, against the
bare Faust loop over the same events, in one run.

The worker is a `bloodtrace serve` process (embedded chDB in its own data directory) on a
broker the bench starts; the clock runs from the start of `emit` to the last event stored
(accepted or recognised as resent by the spine), so it counts the SDK's validation at the
edge, the broker, the spine's validation and every warehouse table. The baseline is the bare
loop of the pipeline bench (a Faust agent doing nothing with batches of raw bytes) over a
topic filled with the same events.

Entry point: ``run(events: int = 100_000, quick: bool = False) -> dict``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench._broker import free_port, memory_broker
from bench._serve import handled, serve_env, start_worker, stop_worker
from bench.pipeline_bench import _bare_loop, _fill_topic, make_events
from infra.broker import ensure_topics
from infra.settings import Settings

AIM_EVENTS_PER_S = 20_000


def _import(base: Settings, work: Path, export: Path, count: int) -> dict[str, float]:
    settings = base.model_copy(
        update={"topic_prefix": f"imp{uuid.uuid4().hex[:6]}", "app_id": "import-bench"}
    )
    ensure_topics(settings)
    port = free_port()
    worker = start_worker(settings, work / "worker", port)
    try:
        started = time.monotonic()
        emitted = subprocess.run(
            [sys.executable, "-m", "cli", "emit", str(export), "--json"],
            env=serve_env(settings, work / "worker", port),
            capture_output=True,
            check=False,
        )
        if emitted.returncode != 0:
            raise RuntimeError(f"emit failed: {emitted.stderr.decode()[-800:]}")
        emit_seconds = time.monotonic() - started
        deadline = time.monotonic() + 1800
        while handled(port) < count:
            if time.monotonic() > deadline or worker.poll() is not None:
                raise TimeoutError(f"{handled(port)} of {count} stored; see {work / 'worker'}")
            time.sleep(0.2)
        return {"seconds": time.monotonic() - started, "emit_seconds": emit_seconds}
    finally:
        stop_worker(worker)


def run(events: int = 100_000, quick: bool = False) -> dict[str, Any]:
    count = 10_000 if quick else events
    # The same broker for both: not what this measures.
    with memory_broker("bloodtrace-import-bench-", topics=False) as (base, work):
        batch = make_events(count)
        export = work / "history.jsonl"
        export.write_bytes(b"\n".join(value for _, value in batch) + b"\n")
        imported = _import(base, work, export, count)
        rate = count / imported["seconds"]
        print(f"import: {rate:,.0f} events/s ({imported['seconds']:.1f} s)", flush=True)
        bare_settings = base.model_copy(update={"topic_prefix": f"bare{uuid.uuid4().hex[:6]}"})
        ensure_topics(bare_settings)
        _fill_topic(bare_settings, batch)
        bare = _bare_loop(bare_settings, count)
        bare_rate = count / bare.seconds
        print(f"bare Faust loop: {bare_rate:,.0f} events/s", flush=True)
        return {
            "events": count,
            "import_events_per_s": round(rate),
            "import_seconds": round(imported["seconds"], 1),
            "emit_seconds": round(imported["emit_seconds"], 1),
            "bare_events_per_s": round(bare_rate),
            "ratio": round(rate / bare_rate, 3),
            "aim_events_per_s": AIM_EVENTS_PER_S,
            "cpus": os.cpu_count(),
        }
