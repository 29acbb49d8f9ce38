"""Nothing lost, nothing doubled: 20,000 events (1,000 sent twice by the producer) stream in
while the worker is SIGKILLed 20 times at random moments and the durable embedded broker
(Tansu and its S3 storage) is SIGKILLed and restarted once; then the whole platform restarts on
an empty in-memory broker (offsets start again at 0) and more events arrive. Every accepted
event is in the warehouse exactly once."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from events_factory import donation
from harness import (
    ProcessPlatform,
    durable_broker,
    platform_settings,
    query_in_child,
    settings_env,
    start_process_platform,
    tansu,
    wait_until,
)

from infra.settings import Settings
from sdk.producer import Producer

# Its platforms own their chDB whatever the profile: one pass is enough.
pytestmark = [pytest.mark.integration, pytest.mark.any_profile, pytest.mark.timeout(1800)]

N, RESENT, KILLS, AFTER_RESET = 20_000, 1_000, 20, 2_000


def _stream(
    settings: Settings,
    events: list[dict[str, Any]],
    resent: list[dict[str, Any]],
    sent: list[str],
    done: threading.Event,
) -> None:
    """Send every event (and the resent ones again, later) at a pace the kills can hit."""
    rng = random.Random(11)
    order = events + resent
    with Producer(settings) as producer:
        for start in range(0, len(order), 100):
            for event in order[start : start + 100]:
                assert producer.send(event).accepted
                sent.append(event["event_id"])
            producer.flush(30)
            # Pacing only (about 200 events/s), so the stream spans the kills.
            time.sleep(rng.uniform(0.2, 0.8))
    done.set()


def _stored(settings: Settings) -> list[int]:
    return query_in_child(
        settings,
        "select (select count() from events), (select uniqExact(event_id) from events), "
        "(select count() from donations), (select uniqExact(din) from donations)",
    )


def test_twenty_kills_and_an_empty_broker_lose_and_double_nothing(tmp_path: Path) -> None:
    rng = random.Random(20)
    events = [donation(i) for i in range(N)]
    resent = rng.sample(events, RESENT)
    with durable_broker(tmp_path / "broker-1") as broker:
        settings = platform_settings(
            tmp_path, broker.bootstrap, sink_batch_size=500, topic_partitions=4
        )
        sent: list[str] = []
        done = threading.Event()
        worker = start_process_platform(settings, "worker-0.log")
        sender = threading.Thread(target=_stream, args=(settings, events, resent, sent, done))
        sender.start()
        stored_by_worker: list[int] = []
        for kill in range(1, KILLS + 1):
            time.sleep(rng.uniform(0.3, 6.0))  # a random moment: starting, catching up or idle
            stored_by_worker.append(worker.status()["metrics"]["accepted"])
            worker.kill()
            if kill == KILLS // 2:  # the broker and its storage crash too, and come back
                broker.kill(tansu=True, storage=True)
                broker.restart()
            if kill % 4 == 0:  # sometimes the next worker is killed before it is even healthy
                proc = subprocess.Popen(
                    [sys.executable, "-m", "cli", "serve"],
                    env=settings_env(settings),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.STDOUT,
                )
                time.sleep(rng.uniform(0.5, 4.0))
                proc.kill()
                proc.wait(30)
            worker = start_process_platform(settings, f"worker-{kill}.log")
        sender.join(600)
        assert done.is_set()
        _wait_caught_up(worker)
        worker.stop()
        first = _stored(settings)
        print(f"\nevents each killed worker had stored: {stored_by_worker}")
        print(f"after {KILLS} kills: sent {len(sent)}, distinct {N}, stored {first}")
        assert first == [N, N, N, N]

    # A new, empty, in-memory broker on the same address: offsets start again at 0.
    extra = [donation(i) for i in range(N, N + AFTER_RESET)]
    port = int(settings.bootstrap_servers.rsplit(":", 1)[1])
    with tansu(tmp_path / "broker-2", port=port):
        worker = start_process_platform(settings, "after-reset.log")
        with Producer(settings) as producer:
            for event in extra:
                assert producer.send(event).accepted
        _wait_caught_up(worker)
        worker.stop()
    total = N + AFTER_RESET
    final = _stored(settings)
    print(f"after an empty broker: sent {AFTER_RESET} more, stored {final}")
    assert final == [total, total, total, total]


def _wait_caught_up(worker: ProcessPlatform) -> None:
    """Until the worker has processed everything on its partitions (zero lag twice)."""

    def idle() -> bool:
        lag = worker.status()["metrics"]["consumer_lag"]
        return bool(lag) and not any(lag.values())

    def idle_twice() -> bool:
        if not idle():
            return False
        time.sleep(1)
        return idle()

    wait_until(idle_twice, 300, 0.5, "zero consumer lag")
