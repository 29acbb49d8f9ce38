"""SIGKILL the platform mid-stream, restart it: every event is in the warehouse exactly once,
including events the producer sent twice."""

from __future__ import annotations

import random
from pathlib import Path

from events_factory import donation
from harness import platform_settings, query_in_child, start_process_platform, wait_until

from sdk.producer import Producer

N = 6000


def test_sigkill_mid_stream_loses_nothing_and_doubles_nothing(
    tmp_path: Path, broker: str, process_warehouse: dict[str, str]
) -> None:
    settings = platform_settings(tmp_path, broker, sink_batch_size=300, **process_warehouse)
    events = [donation(i) for i in range(N)]
    resent = random.Random(5).sample(events, N // 10)  # the producer sends these twice

    first = start_process_platform(settings, "first.log")
    with Producer(settings) as producer:
        for event in events[: N // 2] + resent[: len(resent) // 2]:
            assert producer.send(event).accepted
    accepted_at_kill = wait_until(
        lambda: first.status()["metrics"]["accepted"] or None, 60, 0.05, "first batches"
    )
    first.kill()  # SIGKILL: no shutdown, no final commit
    assert accepted_at_kill < N

    with Producer(settings) as producer:  # the rest arrive while the worker is down
        for event in events[N // 2 :] + resent[len(resent) // 2 :]:
            assert producer.send(event).accepted

    second = start_process_platform(settings, "second.log")
    try:
        wait_until(
            lambda: (
                not any(second.status()["metrics"]["consumer_lag"].values())
                and second.status()["metrics"]["consumer_lag"]
            ),
            120,
            0.5,
            "the restarted worker to catch up",
        )
    finally:
        second.stop()

    # The platform process owned this chDB directory; read it from a fresh process too
    # (chDB binds one directory per process, and this one has the session's open).
    counts = query_in_child(
        settings,
        "select (select count() from events), (select uniqExact(event_id) from events), "
        "(select count() from donations), (select uniqExact(din) from donations)",
    )
    assert counts == [N, N, N, N]
