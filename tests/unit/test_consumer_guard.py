"""The consumer guard never lets a commit pass an offset that was not acknowledged."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from faust.transport.producer import ProducerBuffer

from streams import consumer_guard


@dataclass(eq=False)
class _Message:
    tracked: bool  # taken by a stream (Faust sets it just before the stream yields it)
    offset: int
    generation_id: int = 3
    acked: bool = False
    tp: str = "tp"
    topic: str = "t"


def _consumer(acked: list[int], committed: int | None, processing: tuple[int, ...] = ()) -> Any:
    seeks: list[tuple[str, int]] = []

    async def seek(tp: str, offset: int) -> None:
        seeks.append((tp, offset))

    return SimpleNamespace(
        _acked=defaultdict(list, {"tp": acked}),
        _acked_index=defaultdict(set, {"tp": set(acked)}),
        _committed_offset=defaultdict(lambda: None, {"tp": committed}),
        _gap=defaultdict(list),
        _unacked_messages=[SimpleNamespace(tp="tp", offset=o) for o in processing],
        seek=seek,
        seeks=seeks,
    )


def three_commits(consumer: Any) -> list[int | None]:
    """The guard's commit offset at three commits in a row, and the seeks they started."""

    async def commits() -> list[int | None]:
        looks = [consumer_guard._new_offset_without_holes(consumer, "tp") for _ in range(3)]
        await asyncio.gather(*consumer_guard._seeks)
        return looks

    return asyncio.run(commits())


def test_acknowledged_offsets_after_the_committed_one_are_committed() -> None:
    consumer = _consumer([950, 951, 952], committed=950)
    assert consumer_guard._new_offset_without_holes(consumer, "tp") == 953


def test_a_hole_after_the_committed_offset_holds_the_commit_back() -> None:
    for first_acked in (951, 1022):  # Faust itself let a hole of one offset through
        consumer = _consumer([first_acked, first_acked + 1], committed=950)
        assert consumer_guard._new_offset_without_holes(consumer, "tp") is None


def test_a_hole_nothing_processes_is_read_again_from_the_committed_offset() -> None:
    consumer = _consumer([1000, 1001], committed=92)  # 92-999 acknowledged by nobody

    assert three_commits(consumer) == [None, None, None]
    assert consumer.seeks == [("tp", 92)]


def test_a_hole_still_being_processed_is_waited_for() -> None:
    consumer = _consumer([1000, 1001], committed=92, processing=(92, 93))
    looks = [consumer_guard.orphaned_hole(consumer, "tp", 92, 1000) for _ in range(5)]
    assert looks == [None] * 5


def test_a_partition_never_committed_holds_the_commit_at_its_first_offset_read() -> None:
    """With nothing committed (or 0: Faust reads it as nothing) a rebalance left the copies of
    offsets 0-2 unread (aiokafka does not seek back when there is no committed offset) and
    Faust would commit from the first acknowledged run on: offsets 0-2 lost, unprocessed."""
    consumer = _consumer([3, 4], committed=None)
    for offset in range(5):
        consumer_guard.note_offset_read(consumer, "tp", offset)

    assert three_commits(consumer) == [None, None, None]
    assert consumer.seeks == [("tp", 0)]


def test_a_partition_never_committed_commits_from_its_first_offset_read() -> None:
    consumer = _consumer([0, 1, 2], committed=None)
    consumer_guard.note_offset_read(consumer, "tp", 0)
    assert consumer_guard._new_offset_without_holes(consumer, "tp") == 3


def test_a_message_a_stream_skipped_unprocessed_is_not_acknowledged() -> None:
    """A stream skips the messages it takes while flow control is suspended (a rebalance
    under way) and acknowledges them, processed or not: counted, the commit passed them
    (the table-state SIGKILL test lost offsets 249-299 of one partition that way)."""
    consumer = _consumer([], committed=249)
    consumer.app = SimpleNamespace(
        consumer_generation_id=3, topics=SimpleNamespace(acks_enabled_for=lambda topic: True)
    )
    consumer._n_acked, consumer._waiting_for_ack = 0, None
    consumer._unacked_messages = set()
    skipped, processed = _Message(tracked=False, offset=249), _Message(tracked=True, offset=250)
    assert consumer_guard._ack_current_generation(consumer, skipped) is False
    assert consumer_guard._ack_current_generation(consumer, processed) is True
    assert consumer._acked["tp"] == [250]


def test_skipped_offsets_are_not_taken_as_acknowledged() -> None:
    consumer = _consumer([1022], committed=950)
    asyncio.run(consumer_guard._skipped_offsets_stay_unacknowledged(consumer, "tp", 950, 1021))
    assert consumer._gap == {} and consumer._acked["tp"] == [1022]


def test_a_flush_waits_for_slow_sends() -> None:
    """Faust's flush returned after 0.1 s without a message sent, messages still buffered
    (and did not wait for the one being sent), and the commit that follows it went ahead:
    the guard's waits until every message is in the producer."""
    consumer_guard.install()
    sent: list[int] = []

    class SlowChannel:
        async def publish_message(self, fut: Any, wait: bool) -> None:
            await asyncio.sleep(0.3)  # e.g. a send waiting for a full batch to drain
            sent.append(fut.n)

    async def run() -> None:
        buffer = ProducerBuffer()
        buffer.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))  # type: ignore[assignment]
        await buffer.start()
        try:
            for n in range(3):
                buffer.put(SimpleNamespace(n=n, message=SimpleNamespace(channel=SlowChannel())))  # type: ignore[arg-type]
            await buffer.flush()
        finally:
            await buffer.stop()

    asyncio.run(run())
    assert sent == [0, 1, 2]
