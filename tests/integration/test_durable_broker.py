"""The embedded broker on S3 storage: an event acknowledged to the emitter survives SIGKILL of
Tansu and of its storage server, and is stored exactly once after both restart."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from events_factory import donation
from harness import (
    durable_broker,
    embedded_settings,
    kill_embedded_broker,
    platform_settings,
    query_in_child,
    start_process_platform,
    thread_platform,
    wait_until,
)

from infra.broker import ensure_topics
from infra.warehouse import thread_client
from sdk.producer import Producer

pytestmark = [pytest.mark.integration, pytest.mark.any_profile]
N = 3000


def test_acknowledged_events_survive_sigkill_of_broker_and_storage(
    tmp_path: Path, warehouse_dsn: str
) -> None:
    with durable_broker(tmp_path / "kafka") as kafka:
        settings = platform_settings(
            tmp_path,
            kafka.bootstrap,
            warehouse_url=warehouse_dsn,
            warehouse_database=f"t_{uuid.uuid4().hex[:10]}",
        )
        ensure_topics(settings)
        with Producer(settings) as producer:
            assert all(producer.send(donation(i)).accepted for i in range(N))
            assert producer.flush(60).delivered == N  # each one acknowledged by the broker
        kafka.kill()  # SIGKILL Tansu and weed: nothing flushed, nothing said goodbye
        kafka.restart()
        with thread_platform(settings):
            sql = "select count(), uniqExact(event_id) from events"
            rows = wait_until(
                lambda: (r := thread_client(settings).query(sql).result_rows[0])[0] >= N and r,
                120,
                0.5,
                f"{N} events stored",
            )
    assert tuple(rows) == (N, N)


def test_platform_tansu_and_weed_killed_together_lose_nothing(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path, storage="s3")  # `serve` starts its own broker
    first = start_process_platform(settings, "first.log")
    with Producer(settings) as producer:
        assert all(producer.send(donation(i)).accepted for i in range(N))
        assert producer.flush(60).delivered == N
    first.kill()
    assert len(kill_embedded_broker(settings)) == 2  # Tansu and weed, SIGKILLed too
    second = start_process_platform(settings, "second.log")  # starts both again on the storage
    try:
        wait_until(lambda: second.status()["tables"]["events"] >= N, 120, 0.5, "events stored")
    finally:
        second.stop()
    assert query_in_child(settings, "select count(), uniqExact(event_id) from events") == [N, N]
