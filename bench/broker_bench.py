"""What the durable embedded broker costs: Tansu on S3 storage (a local weed server) against
Tansu in memory, side by side in one run.

For each storage, in alternating rounds, on a fresh data directory:
- broker start: `start_embedded_broker` until Tansu answers metadata (cold: empty storage),
  then stopped and started again on the same storage (warm: what a restart costs);
- platform start: `bloodtrace serve` as a child process until /health answers 200 (broker,
  migrations, worker group join, HTTP);
- accepted-to-stored: `events` events sent through the SDK Producer to that platform, timed
  from the first send to the last row in the `events` table (polled through /v1/status), and
  the producer's share of it (first send to the last acknowledgement).

Entry point: ``run(events: int = 20_000, rounds: int = 2) -> dict``.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench._serve import BENCH_ADMIN_TOKEN
from bench.pipeline_bench import make_events
from infra.broker import start_embedded_broker
from infra.objectstore import free_port
from infra.settings import Settings
from sdk.producer import Producer

STORAGES = ("memory", "s3")


def _settings(work: Path, storage: str) -> Settings:
    return Settings(
        data_dir=work,
        embedded_broker_port=free_port(),
        embedded_broker_storage=storage,  # type: ignore[arg-type]
        api_port=free_port(),
        pseudonym_key="bench",
    )


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLOODTRACE_")}
    env.update(
        BLOODTRACE_DATA_DIR=str(settings.data_dir),
        BLOODTRACE_EMBEDDED_BROKER_PORT=str(settings.embedded_broker_port),
        BLOODTRACE_EMBEDDED_BROKER_STORAGE=settings.embedded_broker_storage,
        BLOODTRACE_API_PORT=str(settings.api_port),
        BLOODTRACE_PSEUDONYM_KEY="bench",
        # Access control on, as a user runs it: the status is read with the first admin's token.
        BLOODTRACE_AUTH__BOOTSTRAP_ADMIN_TOKEN=BENCH_ADMIN_TOKEN,
    )
    return env


def _broker_start(work: Path, storage: str) -> dict[str, float]:
    settings = _settings(work, storage)
    began = time.perf_counter()
    broker = start_embedded_broker(settings, timeout=60)
    cold = time.perf_counter() - began
    broker.stop()
    began = time.perf_counter()
    broker = start_embedded_broker(settings, timeout=60)
    warm = time.perf_counter() - began
    broker.stop()
    return {"broker_start_cold_s": round(cold, 2), "broker_start_warm_s": round(warm, 2)}


def _events_stored(url: str) -> int:
    answer = httpx.get(
        f"{url}/v1/status", headers={"Authorization": f"Bearer {BENCH_ADMIN_TOKEN}"}, timeout=30
    )
    if answer.status_code != 200:
        raise RuntimeError(f"/v1/status answered {answer.status_code}: {answer.text[:300]}")
    return int(answer.json()["tables"].get("events", 0))


def _platform_round(work: Path, storage: str, events: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    settings = _settings(work, storage)
    url = settings.api_base_url
    work.mkdir(parents=True, exist_ok=True)
    log = (work / "platform.log").open("ab")
    began = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve"], env=_env(settings), stdout=log, stderr=log
    )
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"platform exited {proc.returncode}; see {work}/platform.log")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        platform_start = time.perf_counter() - began

        began = time.perf_counter()
        with Producer(settings, source="bench") as producer:
            accepted = sum(producer.send(value).accepted for _, value in events)
            producer.flush(120)
        acknowledged = time.perf_counter() - began
        if accepted != len(events):
            raise RuntimeError(f"only {accepted} of {len(events)} events were accepted")
        deadline = time.monotonic() + 600
        while _events_stored(url) < accepted:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{accepted} events were not all stored within 600 s")
            time.sleep(0.05)
        stored = time.perf_counter() - began
        began = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.wait(90)
        stop = time.perf_counter() - began
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    return {
        "platform_start_s": round(platform_start, 2),
        "produce_acked_events_per_s": round(len(events) / acknowledged),
        "accepted_to_stored_events_per_s": round(len(events) / stored),
        "accepted_to_stored_s": round(stored, 2),
        "platform_stop_s": round(stop, 2),
    }


def run(events: int = 20_000, rounds: int = 2) -> dict[str, Any]:
    batch = make_events(events)
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in STORAGES}
    for round_no in range(rounds):
        for storage in STORAGES if round_no % 2 == 0 else tuple(reversed(STORAGES)):
            work = Path(tempfile.mkdtemp(prefix=f"bloodtrace-broker-bench-{storage}-"))
            try:
                result = _broker_start(work / "broker-only", storage)
                result.update(_platform_round(work / "platform", storage, batch))
            finally:
                shutil.rmtree(work, ignore_errors=True)
            rows[storage].append(result)
            print(f"round {round_no + 1} {storage}: {result}", flush=True)
    summary: dict[str, Any] = {"events": events, "rounds": rows}
    for storage in STORAGES:
        summary[storage] = {
            key: statistics.median(r[key] for r in rows[storage]) for key in rows[storage][0]
        }
    memory, durable = summary["memory"], summary["s3"]
    summary["s3_vs_memory"] = {
        "accepted_to_stored_ratio": round(
            durable["accepted_to_stored_events_per_s"] / memory["accepted_to_stored_events_per_s"],
            3,
        ),
        "platform_start_extra_s": round(
            durable["platform_start_s"] - memory["platform_start_s"], 2
        ),
    }
    return summary


if __name__ == "__main__":
    import json

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    print(json.dumps(run(count, 1), indent=2))
