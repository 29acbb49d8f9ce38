"""Faust consumer behaviour that would lose events, corrected where the platform starts.

After a rebalance Faust skips the messages it fetched under the previous generation and
acknowledges them, so their offsets can be committed before the copies fetched again under
the new generation are processed; a crash in between loses them. An acknowledgement of a
message from an older generation is ignored here: the message is read again and processed
(the warehouse sink stores each event once by identity, so reading twice is harmless).
"""

from __future__ import annotations

from typing import Any

from faust.transport.consumer import Consumer

_faust_ack = Consumer.ack


def _ack_current_generation(self: Any, message: Any) -> bool:
    generation = getattr(message, "generation_id", None)
    if generation is not None and generation != self.app.consumer_generation_id:
        return False
    return bool(_faust_ack(self, message))


def install() -> None:
    """Idempotent: patch Faust's consumer once per process."""
    if Consumer.ack is not _ack_current_generation:
        Consumer.ack = _ack_current_generation  # type: ignore[method-assign]
