"""The processors' stages run in one agent: each batch decoded once for all of them, written
by all of them, completed by all of them, and only then acknowledged; a failed write resets
every stage and leaves the batch unacknowledged (read again after the agent restarts)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from infra.settings import Settings
from streams.app import PlatformContext, Stage
from streams.metrics import Metrics


@dataclass
class FakeMessage:
    topic: str
    partition: int
    offset: int
    refs: int = 0

    def incref(self) -> None:
        self.refs += 1


@dataclass
class FakeEvent:
    value: bytes
    message: FakeMessage


@dataclass
class FakeStream:
    """What the batching primitive uses of a Faust stream."""

    batches: list[list[FakeEvent]]
    # Faust's stream never ends while the agent runs: before each next batch (and before
    # ending) wait until ``ready()``, as a live stream would be waiting for messages.
    ready: Callable[[], bool] | None = None  # default: every event yielded so far acked
    acked: list[int] = field(default_factory=list)
    yielded: int = 0

    def noack(self) -> FakeStream:
        return self

    async def take_events(self, size: int, within: float) -> AsyncIterator[list[FakeEvent]]:
        for batch in self.batches:
            self.yielded += len(batch)
            yield batch
            for _ in range(500):
                if (self.ready or self._all_acked)():
                    break
                await asyncio.sleep(0.01)

    def _all_acked(self) -> bool:
        return len(self.acked) >= self.yielded

    async def ack(self, event: FakeEvent) -> None:
        event.message.refs -= 1
        self.acked.append(event.message.offset)


def _events(offsets: range) -> list[FakeEvent]:
    return [FakeEvent(orjson.dumps({"n": o}), FakeMessage("events.valid", 0, o)) for o in offsets]


def _ctx(tmp_path: Path) -> PlatformContext:
    settings = Settings(data_dir=tmp_path, pseudonym_key="test")
    return PlatformContext(settings=settings, app=None, metrics=Metrics())  # type: ignore[arg-type]


def test_every_stage_sees_each_batch_decoded_once_and_it_is_acked_after_all(
    tmp_path: Path,
) -> None:
    ctx = _ctx(tmp_path)
    stream = FakeStream([_events(range(0, 3)), _events(range(3, 5))])
    log: list[tuple[str, str, int]] = []
    seen_records: list[list[Any]] = []

    def stage(name: str) -> Stage[int]:
        def prepare(events: list[Any], records: list[Any]) -> int:
            seen_records.append(records)
            log.append((name, "prepare", events[0].message.offset))
            return int(events[0].message.offset)

        def write(first: int) -> None:
            assert threading.current_thread().name.startswith("warehouse")
            log.append((name, "write", first))

        def complete(first: int) -> None:
            # nothing of this batch is acknowledged before every stage completed it
            assert first not in stream.acked
            log.append((name, "complete", first))

        return Stage(name, prepare, write, complete)

    asyncio.run(ctx.run_stages(stream, [stage("a"), stage("b")]))
    ctx.warehouse_executor.shutdown(wait=True)

    assert sorted(stream.acked) == [0, 1, 2, 3, 4]
    for first in (0, 3):
        steps = [(n, step) for n, step, f in log if f == first]
        assert steps == [
            ("a", "prepare"),
            ("b", "prepare"),
            ("a", "write"),
            ("b", "write"),
            ("a", "complete"),
            ("b", "complete"),
        ]
    # decoded once per batch, the same objects handed to both stages
    assert seen_records[0] is seen_records[1]
    assert seen_records[0] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert ctx.positions[("events.valid", 0)] == 4


def test_a_failed_write_resets_every_stage_and_leaves_the_batch_unacknowledged(
    tmp_path: Path,
) -> None:
    ctx = _ctx(tmp_path)
    batch = _events(range(0, 3))
    failed = threading.Event()
    stream = FakeStream([batch, _events(range(3, 4))], ready=failed.is_set)
    resets: list[str] = []
    completed: list[str] = []

    def failing_write(_: None) -> None:
        failed.set()
        raise RuntimeError("warehouse down")

    stages = [
        Stage(
            "ok",
            lambda e, r: None,
            lambda p: None,
            lambda p: completed.append("ok"),
            lambda: resets.append("ok"),
        ),
        Stage(
            "bad",
            lambda e, r: None,
            failing_write,
            lambda p: completed.append("bad"),
            lambda: resets.append("bad"),
        ),
    ]
    with pytest.raises(RuntimeError, match="warehouse down"):
        asyncio.run(ctx.run_stages(stream, stages))
    ctx.warehouse_executor.shutdown(wait=True)

    assert resets == ["ok", "bad"]
    assert completed == []
    assert stream.acked == []
    assert all(e.message.refs == 1 for e in batch)  # still held: the offsets stay uncommitted
