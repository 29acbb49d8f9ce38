"""Simulated time: integer seconds since the epoch (UTC); the city lives on China time (UTC+8).

A "day" is a local calendar day. Formatting goes through a per-day cache because the simulator
writes hundreds of thousands of timestamps.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

LOCAL_OFFSET = 8 * 3600
DAY = 86400
HOUR = 3600
MINUTE = 60
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_day_prefix: dict[int, str] = {}


def day_start(day: date) -> int:
    """The UTC epoch second at which the local day begins (local midnight)."""
    return (day.toordinal() - _EPOCH_ORDINAL) * DAY - LOCAL_OFFSET


def local_day_index(ts: int) -> int:
    """A number that grows by one each local day (for bucketing events by day)."""
    return (ts + LOCAL_OFFSET) // DAY


def day_index(day: date) -> int:
    return day.toordinal() - _EPOCH_ORDINAL


def local_hour(ts: int) -> float:
    return ((ts + LOCAL_OFFSET) % DAY) / HOUR


_CLOCK: list[str] = []  # "HH:MM:SSZ" for every second of a day, built on first use


def iso(ts: int) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC."""
    days, rem = divmod(ts, DAY)
    prefix = _day_prefix.get(days)
    if prefix is None:
        prefix = datetime.fromtimestamp(days * DAY, UTC).strftime("%Y-%m-%dT")
        _day_prefix[days] = prefix
    if not _CLOCK:
        _CLOCK.extend(
            f"{s // HOUR:02d}:{s % HOUR // MINUTE:02d}:{s % MINUTE:02d}Z" for s in range(DAY)
        )
    return prefix + _CLOCK[rem]


def local_date(ts: int) -> date:
    return date.fromordinal(_EPOCH_ORDINAL + local_day_index(ts))
