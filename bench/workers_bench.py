"""Events per second of the whole platform on the server profile: one worker, then two.

A real Tansu broker and a real ClickHouse 26.9 HTTP server (chdb-core, infra/chserver.py);
each round gets its own topics (8 partitions), consumer group and database, and its workers
are `bloodtrace serve` processes. The workers start and share the partitions first; then the
raw topic is filled and the clock runs from the first event stored to the last (the group join
is not counted). Every event goes through everything the platform does (validation, every
warehouse table, lifecycle, cold chain, inventory). The machine's core count is reported beside
the figures: on 2 cores two workers cannot be faster, the figure shows their overhead.

Entry point: ``run(events: int = 60_000, quick: bool = False) -> dict``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench._broker import free_port
from bench._serve import BENCH_SIGNING_KEY, serve_env, status
from bench.pipeline_bench import _fill_topic, make_events
from infra.broker import ensure_topics, start_embedded_broker
from infra.chserver import start as start_chserver
from infra.settings import Settings
from infra.warehouse import connect

PARTITIONS = 8


def _raw_partitions(port: int, topic: str) -> set[int]:
    return set(status(port).get("assignment", {}).get(topic, []))


def _round(base: Settings, work: Path, workers: int, events: list[tuple[bytes, bytes]]) -> float:
    tag = uuid.uuid4().hex[:6]
    settings = base.model_copy(
        update={
            "topic_prefix": f"w{workers}{tag}",
            "app_id": f"workers-{workers}-{tag}",
            "warehouse_database": f"bench_w{workers}_{tag}",
            "topic_partitions": PARTITIONS,
        }
    )
    ensure_topics(settings)
    client = connect(settings)
    procs: list[subprocess.Popen[bytes]] = []
    ports = [free_port() for _ in range(workers)]
    try:
        for n, port in enumerate(ports):
            data = work / f"{settings.topic_prefix}-{n}"
            data.mkdir()
            log = (data / "serve.log").open("ab")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "cli", "serve"],
                    env=serve_env(settings, data, port),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()
        raw = settings.topic("events.raw")
        deadline = time.monotonic() + 180
        while True:  # every worker holds raw partitions, together all of them
            held = [_raw_partitions(p, raw) for p in ports]
            if all(held) and set().union(*held) == set(range(PARTITIONS)):
                break
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"{workers} worker(s) did not share the partitions: {held}")
            time.sleep(0.5)
        _fill_topic(settings, events)
        first: float | None = None
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            count = int(client.query("select count() from events").result_rows[0][0])
            now = time.monotonic()
            if count and first is None:
                first = now
            if count >= len(events):
                if count != len(events):
                    raise RuntimeError(f"{count} events stored, expected {len(events)}")
                return now - (first or now)
            time.sleep(0.1)
        raise TimeoutError(f"{workers} worker(s) did not store every event in time")
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(30)


def run(events: int = 60_000, quick: bool = False) -> dict[str, Any]:
    count = 10_000 if quick else events
    work = Path(tempfile.mkdtemp(prefix="bloodtrace-workers-bench-"))
    server = start_chserver(work / "clickhouse")
    base = Settings(
        data_dir=work,
        embedded_broker_port=free_port(),
        embedded_broker_storage="memory",  # the broker is not what this measures
        pseudonym_key="bench",
        warehouse_url=server.url,
        auth={"signing_key": BENCH_SIGNING_KEY},  # the workers' key: the raw topic is signed
    )
    broker = start_embedded_broker(base)
    try:
        base = base.model_copy(update={"broker_url": base.bootstrap_servers})
        batch = make_events(count)
        results: dict[str, Any] = {"events": count, "partitions": PARTITIONS}
        for workers in (1, 2):
            seconds = _round(base, work, workers, batch)
            results[f"workers_{workers}_events_per_s"] = round(count / seconds)
            print(f"{workers} worker(s): {count / seconds:,.0f} events/s", flush=True)
        results["cpus"] = os.cpu_count()
        results["load_average"] = [round(x, 2) for x in os.getloadavg()]
        results["ratio_two_to_one"] = round(
            results["workers_2_events_per_s"] / results["workers_1_events_per_s"], 2
        )
        return results
    finally:
        broker.stop()
        server.stop()
