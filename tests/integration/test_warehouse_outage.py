"""Kill the warehouse (a real ClickHouse 26.9 server) under a running worker: the worker backs
off and retries, the API answers 503 with a hint, and once the server is back every event
accepted meanwhile is stored exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from events_factory import donation
from harness import platform_settings, settings_env, thread_platform, wait_until

from infra.chserver import start as start_chserver
from infra.warehouse import connect
from sdk.producer import Producer

pytestmark = pytest.mark.integration

BEFORE, DURING = 300, 700
# Retries to wait out before the server comes back: back-off 0.5, 1, 2, 4, then every 5 s, so
# 6 is an outage of about 17 s and 15 one of over a minute (BLOODTRACE_TEST_OUTAGE_RETRIES=15).
OUTAGE_RETRIES = int(os.environ.get("BLOODTRACE_TEST_OUTAGE_RETRIES", "6"))
# Routes that read the warehouse: each must answer 503 with a hint while it is down.
READ_ROUTES = [
    "/v1/status",
    "/v1/units/G123498654321H/trace",
    "/v1/donors/ps_00000000000000000000000000000000/trace",
    "/v1/recipients/ps_00000000000000000000000000000000/trace",
    "/v1/lookbacks",
    "/v1/inventory",
    "/v1/inventory/levels",
    "/v1/inventory/expiring",
    "/v1/coldchain/excursions",
    "/v1/quality/runs",
    "/v1/quality/findings",
    "/v1/quality/summary",
]


def test_a_warehouse_outage_loses_nothing(tmp_path: Path, broker: str) -> None:
    server = start_chserver(tmp_path / "clickhouse")
    try:
        settings = platform_settings(
            tmp_path,
            broker,
            warehouse_url=server.url,
            warehouse_database="outage",
            sink_batch_size=200,
        )
        events = [donation(i) for i in range(BEFORE + DURING)]
        with thread_platform(settings) as handle:
            metrics = handle.platform.ctx.metrics
            with Producer(settings) as producer:
                for event in events[:BEFORE]:
                    assert producer.send(event).accepted
            handle.wait_accepted(BEFORE)

            server.stop()  # SIGKILL: the warehouse is gone, mid-stream
            killed_at = time.monotonic()
            with Producer(settings) as producer:  # the broker still accepts
                for event in events[BEFORE:]:
                    assert producer.send(event).accepted

            # The worker is retrying (counted), health says the warehouse is down.
            wait_until(
                lambda: (
                    metrics.snapshot()["retries"].get("WarehouseUnavailable", 0) >= OUTAGE_RETRIES
                ),
                30 + 6 * OUTAGE_RETRIES,
                what="the worker to retry the warehouse",
            )
            health = httpx.get(f"{handle.url}/health", timeout=10)
            assert health.status_code == 503
            assert health.json()["checks"]["warehouse"]["status"] == "down"
            for route in READ_ROUTES:
                reply = httpx.get(f"{handle.url}{route}", timeout=30)
                assert reply.status_code == 503, (route, reply.text)
                detail = reply.json()["detail"]
                assert detail["transient"] and detail["hint"], (route, detail)
                assert reply.headers["retry-after"]
            assert metrics.snapshot()["accepted"] < BEFORE + DURING
            # The CLI asks the (degraded) platform and prints its message: no traceback.
            cli = subprocess.run(
                [sys.executable, "-m", "cli", "lookback", "list"],
                env=settings_env(settings),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert cli.returncode == 3, cli.stderr
            assert "does not answer" in " ".join(cli.stderr.split())
            assert "Traceback" not in cli.stderr + cli.stdout
            outage = time.monotonic() - killed_at

            server.start()  # same path, same port: the data written before is there
            handle.wait_accepted(BEFORE + DURING, timeout=120)
            wait_until(
                lambda: httpx.get(f"{handle.url}/health", timeout=10).status_code == 200,
                60,
                what="health back to 200",
            )

        client = connect(settings)
        total, distinct = client.query(
            "select count(), uniqExact(event_id) from events"
        ).result_rows[0]
        stored = {str(row[0]) for row in client.query("select event_id from events").result_rows}
        donations = client.query("select count() from donations").result_rows[0][0]
        retries = metrics.snapshot()["retries"]
        print(
            f"\noutage {outage:.1f} s, retries {retries}; "
            f"events {total} rows / {distinct} distinct of {len(events)} sent"
        )
        assert stored == {str(e["event_id"]) for e in events}
        assert (total, distinct, donations) == (len(events), len(events), len(events))
    finally:
        server.stop()


def test_a_platform_stops_promptly_while_the_warehouse_is_down(tmp_path: Path, broker: str) -> None:
    """Writes waiting out an outage give up when the platform stops (nothing acknowledged)."""
    server = start_chserver(tmp_path / "clickhouse")
    try:
        settings = platform_settings(
            tmp_path, broker, warehouse_url=server.url, warehouse_database="stopping"
        )
        with thread_platform(settings) as handle:
            metrics = handle.platform.ctx.metrics
            server.stop()
            with Producer(settings) as producer:
                for i in range(50):
                    assert producer.send(donation(i)).accepted
            wait_until(
                lambda: metrics.snapshot()["retries"].get("WarehouseUnavailable", 0) >= 2,
                60,
                what="the worker to retry the warehouse",
            )
            leaving = time.monotonic()
        stopped_in = time.monotonic() - leaving
        print(f"\nstopped in {stopped_in:.1f} s with the warehouse down")
        assert not handle.thread.is_alive()
        assert stopped_in < 45
    finally:
        server.stop()
