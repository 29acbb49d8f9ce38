"""The worker's resident memory over a soak at a steady event rate: flat means within ±10 %
of its level after warm-up. The aim is 2 hours (BENCH_SOAK_SECONDS=7200); `make bench`
runs a shorter soak by default and says so in the result.

Entry point: ``run(seconds: int = 600, rate: int = 200, quick: bool = False) -> dict``.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from confluent_kafka import Producer as KafkaProducer

from bench._broker import free_port, memory_broker
from bench._serve import handled, platform_headers, rss_mib, start_worker, stop_worker
from bench.pipeline_bench import make_events

AIM_SECONDS = 7200
TOLERANCE = 0.10
SAMPLE_EVERY = 10.0


def run(seconds: int = 600, rate: int = 200, quick: bool = False) -> dict[str, Any]:
    seconds = int(os.environ.get("BENCH_SOAK_SECONDS", 90 if quick else seconds))
    warm_up = max(30, seconds // 10)
    with memory_broker(
        "bloodtrace-soak-bench-", topic_prefix=f"soak{uuid.uuid4().hex[:6]}", app_id="soak-bench"
    ) as (settings, work):
        port = free_port()
        worker = start_worker(settings, work / "worker", port)
        producer = KafkaProducer(
            {"bootstrap.servers": settings.bootstrap_servers, "log.connection.close": False}
        )
        topic = settings.topic("events.raw")
        samples: list[tuple[float, float]] = []
        sent = 0
        started = time.monotonic()
        next_sample = started + warm_up
        try:
            while (now := time.monotonic()) - started < seconds + warm_up:
                due = int((now - started) * rate) - sent
                for key, value in make_events(due, first=sent) if due > 0 else []:
                    producer.produce(topic, value=value, key=key, headers=platform_headers(value))
                sent += max(due, 0)
                producer.poll(0)
                if now >= next_sample:
                    samples.append((round(now - started), rss_mib(worker.pid)))
                    next_sample += SAMPLE_EVERY
                time.sleep(0.05)
            producer.flush(60)
            stored = handled(port)
        finally:
            stop_worker(worker)
        level = samples[0][1]
        peak = max(rss for _, rss in samples)
        last = samples[-1][1]
        drift = round((last - level) / level, 3)
        print(f"soak {seconds} s at {rate} ev/s: RSS {level} -> {last} MiB (peak {peak})")
        return {
            "seconds": seconds,
            "aim_seconds": AIM_SECONDS,
            "warm_up_seconds": warm_up,
            "events_per_s": rate,
            "sent": sent,
            "stored": stored,
            "rss_after_warm_up_mib": level,
            "rss_end_mib": last,
            "rss_peak_mib": peak,
            "drift": drift,
            "peak_drift": round((peak - level) / level, 3),
            "flat": abs(drift) <= TOLERANCE and (peak - level) / level <= TOLERANCE,
            "samples": samples,
        }
