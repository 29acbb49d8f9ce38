"""The one way agents consume: gather a batch, process it off the event loop, write it, then
acknowledge it.

Faust's ``take_events`` acknowledges a batch as soon as the loop asks for the next one. A
pipelined agent asks for the next batch while the previous one is still being written, so
Faust would commit offsets of a batch that is not in the warehouse yet, and a crash then
loses it. ``hold`` takes a reference on every message of a batch, so Faust's own ack leaves
it pending; ``release`` (after the write) drops the reference and the offset becomes
committable. Serial agents (``run_serial``) hold their batch too: Faust's ``take_events``
also acknowledges a batch whose processing raised (on its way out of the generator), and
that batch would never be read again.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from functools import partial
from typing import Any, TypeVar

P = TypeVar("P")


def hold(events: Sequence[Any]) -> None:
    """Keep every message of a batch unacknowledged until ``release``."""
    for event in events:
        event.message.incref()


async def release(stream: Any, events: Sequence[Any]) -> None:
    """Acknowledge a written batch: its offsets may now be committed."""
    for event in events:
        await stream.ack(event)


async def run_pipelined(
    stream: Any,
    *,
    executor: Executor,
    batch_size: int,
    batch_seconds: float,
    prepare: Callable[[list[Any]], P],
    write: Callable[[P], Any],
    complete: Callable[[list[Any], P], None] = lambda events, prepared: None,
    reset: Callable[[], None] = lambda: None,
) -> None:
    """Consume ``stream`` a batch at a time: ``prepare`` on the event loop, ``write`` in the
    executor (one thread: batches stay in order) while the next batch is gathered, then
    ``complete`` back on the loop and the batch is acknowledged. A failed write is raised
    here (after ``reset``) and Faust restarts the agent; the unacknowledged batch is read
    again, which the sinks make harmless."""
    loop = asyncio.get_running_loop()
    in_flight: deque[asyncio.Future[Any]] = deque()
    acks: set[asyncio.Task[None]] = set()

    def finish(events: list[Any], prepared: P, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        complete(events, prepared)
        task = loop.create_task(release(stream, events))
        acks.add(task)
        task.add_done_callback(acks.discard)

    try:
        async for events in stream.noack().take_events(batch_size, within=batch_seconds):
            hold(events)
            prepared = prepare(events)
            future = loop.run_in_executor(executor, write, prepared)
            future.add_done_callback(partial(finish, events, prepared))
            in_flight.append(future)
            while len(in_flight) > 1 or (in_flight and in_flight[0].done()):
                await in_flight.popleft()  # re-raises a failed batch: the agent restarts
    except BaseException:
        reset()
        raise


async def run_serial(
    stream: Any,
    *,
    batch_size: int,
    batch_seconds: float,
    handle: Callable[[list[Any]], Awaitable[None]],
) -> None:
    """Consume ``stream`` a batch at a time, each handled inside the loop and acknowledged
    only once ``handle`` returned. A batch whose handling raised stays unacknowledged: no
    commit passes it, and the restarted worker reads it again."""
    async for events in stream.noack().take_events(batch_size, within=batch_seconds):
        hold(events)
        await handle(events)
        await release(stream, events)
