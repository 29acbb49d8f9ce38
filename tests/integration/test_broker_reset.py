"""Accepted means stored after the broker lost its topics: a restarted in-memory broker
starts again at offset 0, and events POSTed then still reach the warehouse."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from events_factory import donation
from harness import free_port, platform_settings, tansu, thread_platform, wait_until

from infra.settings import Settings
from infra.warehouse import thread_client
from sdk.producer import Producer

pytestmark = pytest.mark.integration


def test_events_posted_after_the_broker_lost_its_topics_are_stored(
    tmp_path: Path, warehouse_dsn: str
) -> None:
    port = free_port()
    database = f"t_{uuid.uuid4().hex[:10]}"
    with tansu(tmp_path / "first", port=port) as bootstrap:
        settings = platform_settings(
            tmp_path, bootstrap, warehouse_url=warehouse_dsn, warehouse_database=database
        )
        with thread_platform(settings), Producer(settings) as producer:
            assert all(producer.send(donation(i)).accepted for i in range(40))
            wait_until(lambda: _stored(settings) == 40, 60, what="the first 40 events")

    with tansu(tmp_path / "second", port=port), thread_platform(settings) as platform:
        later = [donation(i) for i in range(40, 45)]
        answer = httpx.post(f"{platform.url}/v1/events", json=later, timeout=30).json()
        assert [r["accepted"] for r in answer["results"]] == [True] * 5
        wait_until(lambda: _stored(settings) == 45, 60, what="the 5 events sent after the reset")
    assert _stored(settings) == 45


def _stored(settings: Settings) -> int:
    return int(thread_client(settings).query("select count() from events").result_rows[0][0])
