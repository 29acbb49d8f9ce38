"""Faust consumer behaviour that would lose events, corrected where the platform starts.

After a rebalance Faust skips the messages it fetched under the previous generation and
acknowledges them, so their offsets can be committed before the copies fetched again under
the new generation are processed; a crash in between loses them. An acknowledgement of a
message from an older generation is ignored here: the message is read again and processed
(the warehouse sink stores each event once by identity, so reading twice is harmless).
The same goes for a message a stream skipped without processing it, in any generation: it
takes messages while flow control is suspended at the start of a rebalance, skips them and
acknowledges them. Counted, offsets 249-299 of one partition were committed unprocessed in
the table-state SIGKILL test (51 events never validated, 16 units and donors missing). A
message is processed only once its stream has tracked it (Faust marks it just before the
stream hands it on; each of our topics is read by one agent), so an untracked one's
acknowledgement is ignored too.

Faust also takes a jump in the offsets it reads for a gap in the topic (compaction or
transaction markers) and counts the missing offsets as acknowledged. Our topics have neither:
a jump means records fetched and then dropped (a fetch cancelled when the generation changed
at a rebalance), and counting them acknowledged committed past them: the chaos test lost 72
events of one partition that way (offsets 950-1021, with 949 and 1022 stored). Jumps are not
acknowledged here, and no commit passes an offset that was not acknowledged: the partition's
commits wait until a rebalance or restart reads the skipped records again.

While nothing is committed on a partition (or offset 0, which Faust takes for nothing), Faust
commits from its first run of acknowledged offsets, wherever that run starts, and after a
rebalance aiokafka seeks back only to a committed offset above 0: the records dropped with the
old generation are never read again, and the commit passed them unprocessed. (The loss the
table-state SIGKILL test saw in 2 of 13 runs, one donor missing and one unit changed, is what
one donation dropped that way gives.) There the hole is counted from the first offset read.

A restarted worker rebuilds its tables from their changelogs, reading each partition up to the
end offset the broker's ListOffsets gives. Tansu (0.6.0, memory and s3 storage) answers that
with the base offset of the partition's last record batch plus one, not the last offset plus
one: a batch of 10 records at offsets 0-9 gives 1. Faust then ended recovery short of the
batch (a restart lost up to 6% of the lifecycle tables' keys). The end offset a Fetch response
carries is right: recovery takes that one (see ``fetched_end_offsets``).

Faust flushes its producer before each commit, so that table writes (buffered: a table's
``__setitem__`` cannot await) reach their changelog before the offsets of the events that made
them are committed. But its buffer's flush gives up as soon as 0.1 s pass without a message
sent (a send waiting for a full batch to drain, or an event loop held by other work), and the
commit goes ahead with writes still buffered: a SIGKILL then loses them for good (a unit
missing its donation, a donor missing from her table). Here a flush waits until the buffer is
empty; a buffer that stops meanwhile fails the flush (and so the commit), as Faust's does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiokafka
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import (
    AIOKafkaConsumerThread,
    credentials_to_aiokafka_auth,
    server_list,
)
from faust.transport.producer import ProducerBuffer

from infra.errors import BrokerUnavailable

log = logging.getLogger(__name__)

_faust_ack = Consumer.ack
_faust_new_offset = Consumer._new_offset
_faust_getmany = Consumer.getmany
_faust_highwaters = AIOKafkaConsumerThread._highwaters
END_OFFSETS_TIMEOUT = 30.0  # seconds to get a Fetch response for every partition
_faust_send_pending = ProducerBuffer._send_pending
FLUSH_WARN_SECONDS = 10.0  # a flush waiting this long says so (once per flush)
HOLE_LOOKS = 3  # commits in a row that find the same hole untracked before it is read again
_seeks: set[asyncio.Future[Any]] = set()  # seeks under way (a reference until done)


def _ack_current_generation(self: Any, message: Any) -> bool:
    generation = getattr(message, "generation_id", None)
    if generation is not None and generation != self.app.consumer_generation_id:
        return False
    if not getattr(message, "tracked", True):
        # Skipped by its stream before processing (flow control suspended for a rebalance):
        # Faust acknowledges it anyway. Left unacknowledged, it is read again.
        return False
    return bool(_faust_ack(self, message))


async def _skipped_offsets_stay_unacknowledged(
    self: Any, tp: Any, offset_from: int, offset_to: int
) -> None:
    log.warning(
        "Offsets %s-%s of %s were skipped by the consumer (dropped at a rebalance); "
        "not committing past them until they are read again.",
        offset_from,
        offset_to,
        tp,
    )


def note_offset_read(consumer: Any, tp: Any, offset: int) -> None:
    """Remember the lowest offset of ``tp`` read in this process: where the partition's
    commits must start while nothing is committed on it."""
    first: dict[Any, int] = consumer.__dict__.setdefault("_first_offset_read", {})
    if offset < first.get(tp, offset + 1):
        first[tp] = offset


async def _getmany_noting_offsets(self: Any, timeout: float) -> AsyncIterator[tuple[Any, Any]]:
    """Faust's fetch loop, each record's offset noted (``note_offset_read``) as it is read:
    also the records a rebalance drops before a stream takes them."""
    async for tp, message in _faust_getmany(self, timeout):
        note_offset_read(self, tp, message.offset)
        yield tp, message


def _new_offset_without_holes(self: Any, tp: Any) -> int | None:
    """Faust's next commit offset, unless an offset between the committed one and the first
    acknowledged one was never acknowledged (Faust lets a hole of one through). A hole that
    nothing is processing any more is read again (``orphaned_hole``).

    With nothing committed on the partition (or offset 0, which Faust reads as nothing) the
    hole is counted from the first offset read: after a rebalance aiokafka seeks back only to
    a committed offset above 0, so the copies of messages dropped with the old generation are
    never read again, and Faust would commit from the first acknowledged run onwards."""
    acked = self._acked[tp]
    committed = self._committed_offset[tp]
    if committed is None:
        committed = self.__dict__.get("_first_offset_read", {}).get(tp)
    if acked and committed is not None and min(acked) > committed:
        offset = orphaned_hole(self, tp, committed, min(acked))
        if offset is not None:
            _read_again(self, tp, offset, min(acked))
        return None
    self.__dict__.get("_hole_looks", {}).pop(tp, None)
    return _faust_new_offset(self, tp)  # type: ignore[no-any-return]


def orphaned_hole(consumer: Any, tp: Any, committed: int, first_acked: int) -> int | None:
    """The offset to read ``tp`` again from, when its hole (offsets ``committed`` up to
    ``first_acked``, never acknowledged) has outlived every message that could fill it.

    Messages of the hole that reached a stream and are not acknowledged yet are tracked by
    Faust (its unacknowledged set); while one is, a batch is still at work on it (a held
    batch, or a write waiting out an outage). A message read under an older generation and
    processed has its acknowledgement ignored (``_ack_current_generation``), and its copy
    read again can be dropped when the consumer's read position was moved past it at the
    rebalance: then nothing will ever acknowledge those offsets, and the partition's commits
    would wait until the next restart (seen: 999 offsets held back for 300 s). The same hole
    found untracked at HOLE_LOOKS commits in a row is read again."""
    looks: dict[Any, tuple[int, int]] = consumer.__dict__.setdefault("_hole_looks", {})
    if any(
        m.tp == tp and committed <= m.offset < first_acked for m in list(consumer._unacked_messages)
    ):
        looks.pop(tp, None)
        return None
    seen_at, count = looks.get(tp, (committed, 0))
    count = count + 1 if seen_at == committed else 1
    if count < HOLE_LOOKS:
        looks[tp] = (committed, count)
        return None
    looks.pop(tp, None)
    return committed


def _read_again(consumer: Any, tp: Any, offset: int, first_acked: int) -> None:
    log.warning(
        "Offsets %s-%s of %s were never acknowledged and nothing is processing them: "
        "reading them again (what was processed already is recognised and not stored twice).",
        offset,
        first_acked - 1,
        tp,
    )
    task = asyncio.ensure_future(consumer.seek(tp, offset))
    _seeks.add(task)
    task.add_done_callback(_seeks.discard)


async def _highwaters_from_fetch(self: Any, partitions: list[Any]) -> Any:
    """Faust's end offsets of partitions (ListOffsets), raised to what Fetch says."""
    listed = await _faust_highwaters(self, partitions)
    if not partitions or self.consumer.in_transaction:
        return listed
    return await fetched_end_offsets(self, listed)


async def fetched_end_offsets(thread: Any, listed: Mapping[Any, int | None]) -> dict[Any, int]:
    """Each partition's end offset as a Fetch response gives it (its high watermark),
    fetched by a consumer of its own (no group) from the ListOffsets answer onwards: on
    Tansu that answer is a lower bound, so only the partition's last batch is read again."""
    conf, transport = thread.app.conf, thread.transport
    probe = aiokafka.AIOKafkaConsumer(
        client_id=f"{conf.broker_client_id}-end-offsets",
        bootstrap_servers=server_list(transport.url, transport.default_port),
        enable_auto_commit=False,
        fetch_max_wait_ms=10,  # an answer at once, even for a partition with nothing new
        request_timeout_ms=int(conf.broker_request_timeout * 1000.0),
        **credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
    )
    await probe.start()
    try:
        tps = list(listed)
        probe.assign(tps)
        for tp in tps:
            probe.seek(tp, max(listed[tp] or 0, 0))
        deadline = time.monotonic() + END_OFFSETS_TIMEOUT
        while any(probe.highwater(tp) is None for tp in tps):
            if time.monotonic() > deadline:
                unknown = [tp for tp in tps if probe.highwater(tp) is None]
                raise BrokerUnavailable(
                    f"no Fetch answer for {len(unknown)} changelog partition(s) "
                    f"(e.g. {unknown[0]}) in {END_OFFSETS_TIMEOUT:g} s",
                    hint="Table recovery needs every changelog's end; the worker restarts.",
                )
            await probe.getmany(timeout_ms=100)
        ends = {tp: max(listed[tp] or 0, probe.highwater(tp)) for tp in tps}
    finally:
        await probe.stop()
    raised = [
        f"{tp.topic}[{tp.partition}] {listed[tp]}->{ends[tp]}"
        for tp in tps
        if ends[tp] != listed[tp]
    ]
    if raised:
        log.info("End offsets from Fetch above ListOffsets' (Tansu): %s", ", ".join(raised))
    return ends


async def _send_counted(self: Any, fut: Any) -> None:
    """ProducerBuffer._send_pending, counted while under way: a message taken out of the
    buffer is not in the producer yet until its send returns."""
    self.sends_under_way = getattr(self, "sends_under_way", 0) + 1
    try:
        await _faust_send_pending(self, fut)
    finally:
        self.sends_under_way -= 1


async def _flush_until_empty(self: Any) -> None:
    """ProducerBuffer.flush: wait until every buffered message was handed to the producer
    (Faust's returns after 0.1 s without progress, messages still in the buffer, and does
    not wait for the one being sent)."""
    started = time.monotonic()
    warned = False
    while self.size or getattr(self, "sends_under_way", 0):
        if self.state != "running":
            raise RuntimeError("Cannot flush: Producer not Running")
        self.message_sent.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.message_sent.wait(), timeout=0.1)
        if not warned and time.monotonic() - started > FLUSH_WARN_SECONDS:
            warned = True
            log.warning(
                "Producer buffer still holds %d message(s) after %.0f s: the commit waits "
                "until they are sent (is the broker reachable?)",
                self.size,
                FLUSH_WARN_SECONDS,
            )


def install() -> None:
    """Idempotent: patch Faust's consumer once per process."""
    if Consumer.ack is not _ack_current_generation:
        Consumer.ack = _ack_current_generation  # type: ignore[method-assign]
        Consumer._add_gap = _skipped_offsets_stay_unacknowledged  # type: ignore[method-assign]
        Consumer._new_offset = _new_offset_without_holes  # type: ignore[method-assign]
        Consumer.getmany = _getmany_noting_offsets  # type: ignore[method-assign]
        AIOKafkaConsumerThread._highwaters = _highwaters_from_fetch  # type: ignore[method-assign]
        ProducerBuffer.flush = _flush_until_empty  # type: ignore[method-assign]
        ProducerBuffer._send_pending = _send_counted  # type: ignore[method-assign]
