"""Build wire-format events and hand them out one local day at a time, in time order.

Simulating a day decides things that happen later (a sample collected today is tested
tomorrow), so events wait in a bucket for their own day. A day's bucket is complete once that
day has been simulated: nothing simulated later may happen earlier (checked, not assumed).
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

from simulation.clock import iso, local_day_index

Event = dict[str, Any]


_VERSION_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_SET = (0x4000 << 64) | (0x8000 << 48)


def uuid4_string(bits: int) -> str:
    """``str(uuid.UUID(int=bits, version=4))``, without building the object (a hot path)."""
    h = f"{(bits & _VERSION_CLEAR) | _VERSION_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class SimulationError(RuntimeError):
    """The simulator broke its own time order (a bug, never bad input)."""


class Emitter:
    def __init__(self, ids: random.Random, lags: random.Random) -> None:
        self._ids = ids
        self._lags = lags
        self._buckets: dict[int, list[tuple[int, int, Event]]] = defaultdict(list)
        self._seq = 0
        self.floor = 0  # no event may occur before this second (start of the day simulated)
        self.counts: dict[str, int] = defaultdict(int)

    def emit(self, ts: int, event_type: str, facility_id: str, payload: dict[str, Any]) -> None:
        if ts < self.floor:
            raise SimulationError(
                f"{event_type} at {iso(ts)} is earlier than the day simulated ({iso(self.floor)})"
            )
        roll = self._lags.random()
        # Scanners and loggers record within seconds; a manual entry can take minutes.
        lag = 2 + int(roll / 0.85 * 44) if roll < 0.85 else 60 + int((roll - 0.85) / 0.15 * 840)
        event = {
            "event_id": uuid4_string(self._ids.getrandbits(128)),
            "type": event_type,
            "schema_version": 1,
            "occurred_at": iso(ts),
            "recorded_at": iso(ts + lag),
            "facility_id": facility_id,
            "payload": payload,
        }
        self._seq += 1
        self._buckets[local_day_index(ts)].append((ts, self._seq, event))
        self.counts[event_type] += 1

    def take_day(self, index: int) -> list[Event]:
        """The events of local day ``index``, in occurred_at order (ties: emission order)."""
        bucket = self._buckets.pop(index, [])
        bucket.sort(key=lambda item: (item[0], item[1]))
        return [item[2] for item in bucket]
