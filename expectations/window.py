"""The time window a quality run checks: new data only, a period, or everything.

A window is a SQL predicate over one timestamp column of a warehouse table:

- ``incremental`` (the default): rows *ingested* after the last run's high-water mark, so an
  hourly run checks only what arrived in the hour, whenever it happened;
- ``since``: rows that *occurred* at or after a moment (``--since 2026-03-01`` or ``--since 7d``);
- ``all``: every row.

Every mode stops at ``end``, the ingested_at the run started at, so rows that land while the
run works are left for the next one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from infra.errors import ConfigError

Mode = Literal["incremental", "since", "all"]
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def as_utc(value: object) -> datetime:
    """A warehouse timestamp (naive UTC) or any datetime as an aware UTC datetime."""
    import pandas as pd  # pandas is imported by every caller already; keep this module light

    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    return stamp.to_pydatetime()  # type: ignore[no-any-return]


def sql_time(moment: datetime) -> str:
    """A ClickHouse DateTime64(3, 'UTC') literal (our own datetimes only, never user text)."""
    text = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return f"toDateTime64('{text}', 3, 'UTC')"


def parse_since(text: str | None, *, now: datetime | None = None) -> datetime | None:
    """``2026-03-01``, ``2026-03-01T08:00:00Z`` or a duration back from now (``90m``, ``24h``,
    ``7d``, ``2w``) as an aware UTC datetime; None stays None."""
    if text is None or not text.strip():
        return None
    match = _RELATIVE.match(text)
    if match:
        amount, unit = float(match.group(1)), match.group(2).lower()
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: amount})
    try:
        if len(text.strip()) == 10:
            day = date.fromisoformat(text.strip())
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(
            f"--since {text!r} is neither a date, a timestamp nor a duration.",
            hint="Use e.g. 2026-03-01, 2026-03-01T08:00:00Z, 24h or 7d.",
        ) from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class Window:
    mode: Mode
    end: datetime  # ingested_at the run started at
    start: datetime | None = None  # exclusive for incremental (ingested_at), inclusive for since

    @property
    def column(self) -> str:
        return "occurred_at" if self.mode == "since" else "ingested_at"

    def predicate(self, alias: str = "") -> str:
        """SQL condition selecting a table's rows in this window (``alias.`` prefixed)."""
        prefix = f"{alias}." if alias else ""
        parts = [f"{prefix}ingested_at <= {sql_time(self.end)}"]
        if self.start is not None:
            op = ">=" if self.mode == "since" else ">"
            parts.append(f"{prefix}{self.column} {op} {sql_time(self.start)}")
        return " and ".join(parts)

    def describe(self) -> str:
        if self.mode == "all":
            return f"everything ingested up to {self.end.isoformat()}"
        if self.mode == "since":
            return f"events that occurred since {self.start.isoformat() if self.start else '-'}"
        if self.start is None:
            return f"everything ingested up to {self.end.isoformat()} (first run)"
        return f"ingested after {self.start.isoformat()} up to {self.end.isoformat()}"
