"""The calendar a blood service's week is shaped by, as forecasting features (pure).

Weekdays; Chinese public holidays and their make-up working days (``chinese-calendar``, which
knows the State Council's yearly schedule); the Spring Festival by the lunar calendar
(``lunardate``: the festival moves by up to a month in the solar year); school vacations; and
the station's campaign days (dbt seed ``campaign_calendar.csv``: MM-DD, name, window days).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import chinese_calendar
from lunardate import LunarDate

SEEDS_DIR = Path(__file__).resolve().parent.parent / "dbt" / "seeds"

# Spring Festival offsets (days from lunar New Year's Day) grouped into phases: the run-up when
# students and migrant workers leave, the holiday week itself, and the return.
FESTIVAL_PHASES: tuple[tuple[int, int], ...] = ((-24, -11), (-10, -4), (-3, 6), (7, 13), (14, 20))


@dataclass(frozen=True)
class Campaign:
    """A yearly campaign (MM-DD) or a one-off (YYYY-MM-DD: ``year`` set)."""

    month: int
    day: int
    window_days: int
    name: str = ""
    year: int | None = None

    def on(self, year: int) -> date | None:
        if self.year is not None and self.year != year:
            return None
        try:
            return date(year, self.month, self.day)
        except ValueError:  # 29 February in a common year
            return None


def load_campaigns(path: Path | None = None) -> tuple[Campaign, ...]:
    """The campaign calendar seed (an absent file means no campaigns)."""
    path = path or SEEDS_DIR / "campaign_calendar.csv"
    if not path.exists():
        return ()
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out = []
    for row in rows:
        parts = [int(x) for x in row["campaign_date"].split("-")]
        year = parts[0] if len(parts) == 3 else None
        month, day = parts[-2:]
        window = int(row.get("window_days") or 0)
        out.append(Campaign(month, day, window, row["campaign_name"], year))
    return tuple(out)


@lru_cache(maxsize=64)
def lunar_new_year(year: int) -> date:
    return LunarDate(year, 1, 1).to_solar_date()  # type: ignore[no-any-return]


def festival_offset(day: date) -> int:
    """Days from the nearest lunar New Year's Day (negative before it)."""
    offsets = [(day - lunar_new_year(y)).days for y in (day.year - 1, day.year, day.year + 1)]
    return min(offsets, key=abs)


def public_holiday(day: date) -> tuple[bool, bool]:
    """(a public holiday on a weekday, a make-up working day on a weekend). Outside the years
    chinese-calendar knows, neither: the weekday features still hold."""
    try:
        holiday = chinese_calendar.is_holiday(day)
    except NotImplementedError:
        return False, False
    weekend = day.weekday() >= 5
    return (holiday and not weekend), (weekend and not holiday)


def school_vacation(day: date) -> bool:
    """Winter vacation (about three weeks either side of the lunar New Year) and summer
    (10 July to 31 August)."""
    if -24 <= festival_offset(day) <= 20:
        return True
    return (day.month == 7 and day.day >= 10) or day.month == 8


def campaign_weight(day: date, campaigns: tuple[Campaign, ...]) -> float:
    """1 on a campaign day, fading linearly to 0 just beyond its window."""
    best = 0.0
    for campaign in campaigns:
        for year in (day.year - 1, day.year, day.year + 1):
            on = campaign.on(year)
            if on is None:
                continue
            distance = abs((day - on).days)
            if distance <= campaign.window_days:
                best = max(best, 1.0 - distance / (campaign.window_days + 1))
    return best


FEATURE_NAMES: tuple[str, ...] = (
    "intercept",
    "trend",
    *(f"weekday_{i}" for i in range(1, 7)),
    "public_holiday",
    "makeup_workday",
    *(f"festival_{lo}_{hi}" for lo, hi in FESTIVAL_PHASES),
    "school_vacation",
    "campaign",
    "annual_sin1",
    "annual_cos1",
    "annual_sin2",
    "annual_cos2",
)


def features(day: date, origin: date, campaigns: tuple[Campaign, ...]) -> list[float]:
    """One day's regressors, in FEATURE_NAMES order; trend is in years since ``origin``."""
    weekday = day.weekday()
    holiday, makeup = public_holiday(day)
    offset = festival_offset(day)
    doy = 2 * math.pi * day.timetuple().tm_yday / 365.25
    return [
        1.0,
        (day - origin).days / 365.25,
        *(1.0 if weekday == i else 0.0 for i in range(1, 7)),
        float(holiday),
        float(makeup),
        *(1.0 if lo <= offset <= hi else 0.0 for lo, hi in FESTIVAL_PHASES),
        # Vacation outside the festival itself (the festival phases already count it).
        float(school_vacation(day) and not -10 <= offset <= 13),
        campaign_weight(day, campaigns),
        math.sin(doy),
        math.cos(doy),
        math.sin(2 * doy),
        math.cos(2 * doy),
    ]


def days(start: date, count: int) -> list[date]:
    return [start + timedelta(days=i) for i in range(count)]
