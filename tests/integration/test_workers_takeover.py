"""Two `bloodtrace serve` workers, one broker, one ClickHouse server, 8 partitions.

They share the partitions as one consumer group, each with its HTTP API; only the group's
leader runs the scheduled jobs. Events stream in, the leader is SIGKILLed mid-stream, and the
other worker takes over its partitions, its Faust table state and the leadership: every event
is stored exactly once, units on the moved partitions keep their lifecycle state (a released
unit may be issued, an unreleased one may not; a donor's earlier donation still makes the next
one too early) and their traces show their whole history.

Runs on a ClickHouse server whatever the session's profile: chDB cannot be shared by two
processes. Prints the takeover times (run with -s to see them).
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from events_factory import donation
from harness import (
    ProcessPlatform,
    free_port,
    platform_settings,
    start_process_platform,
    wait_until,
)
from lifecycle_scenario import RED, T0, collected, h, produced, unit_event

from infra.chserver import ChServer
from infra.settings import Settings
from infra.warehouse import connect
from models.isbt128 import make_din
from models.pseudonym import pseudonymise
from sdk.producer import Producer

pytestmark = [pytest.mark.integration, pytest.mark.any_profile]

PARTITIONS = 8
UNITS = 48  # even: collected, produced, released; odd: collected only
STREAMED = 3000  # donations streaming in while the leader dies
JOBS_ENV = {
    # Quality every 5 s (the scheduler looks every 5 s), dbt off: both go through the same
    # leader check, and quality is the cheaper one to watch.
    "BLOODTRACE_QUALITY__SCHEDULE_SECONDS": "5",
    "BLOODTRACE_DBT__SCHEDULE_SECONDS": "0",
}


def unit_din(i: int) -> str:
    return make_din("G1234", 26, 500 + i)


def unit_donor(i: int) -> str:
    return pseudonymise(f"TAKEOVER-DONOR-{i}", b"test-key")


def before_kill() -> list[dict[str, Any]]:
    events = []
    for i in range(UNITS):
        d = unit_din(i)
        events.append(collected(d, T0, unit_donor(i)))
        if i % 2 == 0:
            events.append(produced(d, RED, "red_cells", 280, h(2), 35))
            events.append(unit_event("unit.released", d, h(8)))
    return events


def after_kill() -> list[dict[str, Any]]:
    events = []
    for i in range(UNITS):
        d = unit_din(i)
        code = {"product_code": RED} if i % 2 == 0 else {}
        events.append(unit_event("unit.issued", d, h(30), "H01", ward="ER", **code))
        # 60 days after the first: too early for whole blood, if the donor is remembered.
        again = make_din("G1234", 26, 700 + i)
        events.append(collected(again, T0 + timedelta(days=60), unit_donor(i)))
    return events


def send(settings: Settings, events: list[dict[str, Any]]) -> None:
    with Producer(settings) as producer:
        for event in events:
            assert producer.send(event).accepted


def status(worker: ProcessPlatform) -> dict[str, Any]:
    return worker.status()


def raw_partitions(worker: ProcessPlatform, raw_topic: str) -> set[int]:
    return set(status(worker)["assignment"].get(raw_topic, []))


def idle(worker: ProcessPlatform) -> bool:
    lag = status(worker)["metrics"]["consumer_lag"]
    return bool(lag) and not any(lag.values())


def test_two_workers_share_partitions_and_one_takes_over_after_a_sigkill(
    tmp_path: Path, broker: str, chserver: ChServer
) -> None:
    (tmp_path / "w1").mkdir()
    (tmp_path / "w2").mkdir()
    first_settings = platform_settings(
        tmp_path / "w1",
        broker,
        warehouse_url=chserver.url,
        warehouse_database=f"w_{uuid.uuid4().hex[:10]}",
        topic_partitions=PARTITIONS,
        sink_batch_size=500,
    )
    second_settings = first_settings.model_copy(
        update={"data_dir": tmp_path / "w2", "api_port": free_port()}
    )
    raw_topic = first_settings.topic("events.raw")
    client = connect(first_settings)  # creates the database the workers will migrate

    def stored() -> tuple[int, int]:
        [(count, unique)] = client.query(
            "select count(), uniqExact(event_id) from events"
        ).result_rows
        return int(count), int(unique)

    first = start_process_platform(first_settings, "w1.log", JOBS_ENV)
    second = None
    try:
        second = start_process_platform(second_settings, "w2.log", JOBS_ENV)
        workers = (first, second)

        # One group: the 8 raw partitions split between the two, none held twice.
        def shared() -> bool:
            a, b = (raw_partitions(w, raw_topic) for w in workers)
            return bool(a) and bool(b) and not (a & b) and a | b == set(range(PARTITIONS))

        wait_until(shared, 90, 0.5, "the two workers to share the partitions")
        leaders = [w for w in workers if status(w)["health"]["checks"]["worker"]["leader"]]
        assert len(leaders) == 1, "exactly one leader"
        leader = leaders[0]
        survivor = second if leader is first else first

        # State built before the kill, on both workers.
        early = before_kill()
        send(first_settings, early)
        wait_until(lambda: stored() == (len(early), len(early)), 60, 0.5, "the first events")
        wait_until(lambda: all(idle(w) for w in workers), 60, 0.5, "both workers idle")

        # Scheduled jobs run on the leader only.
        def quality_runs(worker: ProcessPlatform) -> str | None:
            job = status(worker)["jobs"].get("quality")
            return job["finished_at"] if job else None

        first_run = wait_until(lambda: quality_runs(leader), 60, 0.5, "a quality run")
        wait_until(
            lambda: (quality_runs(leader) or "") > first_run, 60, 0.5, "a second quality run"
        )
        assert quality_runs(survivor) is None, "the non-leader ran a scheduled job"
        moved = raw_partitions(leader, raw_topic)

        # A stream of donations; the leader dies in the middle of it.
        streamed = [donation(20_000 + i) for i in range(STREAMED)]
        producer_done = threading.Event()

        def stream() -> None:
            with Producer(first_settings) as producer:
                for n, event in enumerate(streamed):
                    assert producer.send(event).accepted
                    if n % 200 == 0:
                        time.sleep(0.05)  # a stream, not one burst
            producer_done.set()

        streaming = threading.Thread(target=stream, daemon=True)
        streaming.start()
        wait_until(lambda: stored()[0] >= len(early) + 300, 60, 0.1, "the stream to flow")
        killed_at = time.monotonic()
        leader.kill()
        send(first_settings, after_kill())  # while nobody holds the dead worker's partitions
        streaming.join(120)
        assert producer_done.is_set()

        wait_until(
            lambda: raw_partitions(survivor, raw_topic) == set(range(PARTITIONS)),
            120,
            0.2,
            "the survivor to hold every partition",
        )
        assigned_after = time.monotonic() - killed_at
        total = len(early) + STREAMED + 2 * UNITS
        wait_until(lambda: stored()[0] >= total, 180, 0.5, "every event stored")
        wait_until(lambda: idle(survivor), 120, 0.5, "the survivor to catch up")
        caught_up_after = time.monotonic() - killed_at
        assert stored() == (total, total), "an event lost or stored twice"

        # Lifecycle state moved with the partitions.
        def alerts() -> set[tuple[str, str]]:
            rows = client.query("select rule, din from alerts").result_rows
            return {(rule, din) for rule, din in rows}

        expected = {("unit.issued_unreleased", unit_din(i)[:13]) for i in range(1, UNITS, 2)}
        expected |= {
            ("donation.interval", make_din("G1234", 26, 700 + i)[:13]) for i in range(UNITS)
        }
        wait_until(lambda: expected <= alerts(), 60, 0.5, "the alerts after the takeover")
        released = {unit_din(i)[:13] for i in range(0, UNITS, 2)}
        assert not {a for a in alerts() if a[0] == "unit.issued_unreleased" and a[1] in released}

        partition_of: dict[str, int] = dict(
            cast(
                "list[tuple[str, int]]",
                client.query(
                    "select din, any(src_partition) from events "
                    "where event_type = 'donation.collected' group by din"
                ).result_rows,
            )
        )
        on_moved = [i for i in range(UNITS) if partition_of.get(unit_din(i)[:13]) in moved]
        assert any(i % 2 == 0 for i in on_moved) and any(i % 2 for i in on_moved)
        for i in [i for i in on_moved if i % 2 == 0][:3]:
            trace = httpx.get(f"{survivor.url}/v1/units/{unit_din(i)}/trace", timeout=30).json()
            steps = [s["step"] for s in trace["steps"]]
            assert steps[:1] == ["donation.collected"] and "unit.released" in steps
            assert steps[-1] == "unit.issued", steps

        # The leadership moved too: the survivor now runs the scheduled jobs.
        assert status(survivor)["health"]["checks"]["worker"]["leader"]
        wait_until(lambda: quality_runs(survivor), 60, 0.5, "a quality run on the survivor")
        print(
            f"\ntakeover: {len(moved)} partitions moved; survivor held all "
            f"{PARTITIONS} after {assigned_after:.1f} s, caught up after {caught_up_after:.1f} s"
        )
    finally:
        for worker in (first, second):
            if worker is not None:
                worker.stop()
