"""Serial agents (store-alerts, store-rejected, lifecycle-donors) acknowledge a batch only once
it is handled: Faust's ``take_events`` acknowledges a batch even when the agent's body raised
on it (in a ``finally`` on its way out), so a terminal error used to lose the batch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from infra.settings import Settings
from streams.app import PlatformContext
from streams.metrics import Metrics


@dataclass
class Message:
    offset: int
    topic: str = "alerts"
    partition: int = 0
    refs: int = 1  # the consumer hands each message to the stream with one reference

    def incref(self) -> None:
        self.refs += 1


@dataclass
class Event:
    message: Message


@dataclass
class FaustLikeStream:
    """Acknowledges as Faust's ``take_events`` does: each batch after the body's turn, in a
    ``finally``; an offset is acknowledged when its message's last reference is dropped."""

    batches: list[list[Event]]
    acked: list[int] = field(default_factory=list)

    def noack(self) -> FaustLikeStream:
        return self

    async def take_events(self, size: int, within: float) -> AsyncIterator[list[Event]]:
        for batch in self.batches:
            try:
                yield batch
            finally:
                for event in batch:
                    await self.ack(event)

    async def ack(self, event: Event) -> None:
        event.message.refs -= 1
        if event.message.refs == 0:
            self.acked.append(event.message.offset)


def _ctx(tmp_path: Path) -> PlatformContext:
    settings = Settings(data_dir=tmp_path, pseudonym_key="test")
    return PlatformContext(settings=settings, app=None, metrics=Metrics())  # type: ignore[arg-type]


def _batches(*sizes: int) -> list[list[Event]]:
    offsets = iter(range(sum(sizes)))
    return [[Event(Message(next(offsets))) for _ in range(n)] for n in sizes]


def test_a_batch_is_acknowledged_only_after_it_is_handled(tmp_path: Path) -> None:
    stream = FaustLikeStream(_batches(2, 3))
    acked_while_handling: list[list[int]] = []

    async def handle(events: list[Any]) -> None:
        acked_while_handling.append(list(stream.acked))

    asyncio.run(_ctx(tmp_path).run_serially(stream, handle))
    assert acked_while_handling == [[], [0, 1]]
    assert stream.acked == [0, 1, 2, 3, 4]


def test_a_batch_whose_handling_failed_stays_unacknowledged(tmp_path: Path) -> None:
    stream = FaustLikeStream(_batches(2, 3))

    async def handle(events: list[Any]) -> None:
        if events[0].message.offset == 2:
            raise RuntimeError("terminal warehouse error")

    ctx = _ctx(tmp_path)
    with pytest.raises(RuntimeError, match="terminal"):
        asyncio.run(ctx.run_serially(stream, handle))
    assert stream.acked == [0, 1]  # offsets 2-4 are read again after the restart
    assert ctx.positions == {("alerts", 0): 1}  # nor counted as processed
