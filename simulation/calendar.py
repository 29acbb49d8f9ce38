"""The year of a Chinese blood service: Spring Festival, vacations, heat and campaign days.

Every factor here is a pure function of the date (and the configuration), so the analytic
expectation of a day's collection and demand is available without running the simulation.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulation.config import CityConfig
    from simulation.reference import Campaign

# Lunar New Year's Day (春节, 正月初一).
LUNAR_NEW_YEAR: dict[int, date] = {
    2015: date(2015, 2, 19),
    2016: date(2016, 2, 8),
    2017: date(2017, 1, 28),
    2018: date(2018, 2, 16),
    2019: date(2019, 2, 5),
    2020: date(2020, 1, 25),
    2021: date(2021, 2, 12),
    2022: date(2022, 2, 1),
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
    2031: date(2031, 1, 23),
    2032: date(2032, 2, 11),
    2033: date(2033, 1, 31),  # 19 years: the cycle below finds every year in the table
}


def lunar_new_year(year: int) -> date:
    """The table's date; outside it, the Metonic cycle (19 years) repeats it to within a day
    or two, which is all a simulated season needs."""
    if year in LUNAR_NEW_YEAR:
        return LUNAR_NEW_YEAR[year]
    known = min(LUNAR_NEW_YEAR) + (year - min(LUNAR_NEW_YEAR)) % 19
    ref = LUNAR_NEW_YEAR[known]
    return date(year, ref.month, ref.day)


def festival_offset(day: date) -> int:
    """Days from the nearest Lunar New Year (negative before it)."""
    offsets = [(day - lunar_new_year(y)).days for y in (day.year - 1, day.year, day.year + 1)]
    return min(offsets, key=abs)


def festival_factor(day: date, cfg: CityConfig) -> float:
    """Collection during Spring Festival: students and migrant workers go home, streets empty.
    Deepest from 3 days before to 6 days after New Year, tapering over about a week each side."""
    r = festival_offset(day)
    low = 1.0 - cfg.festival_dip
    if -3 <= r <= 6:
        return low
    if -10 <= r < -3:
        return 1.0 - (1.0 - low) * (r + 11) / 8
    if 6 < r <= 13:
        return low + (1.0 - low) * (r - 6) / 8
    return 1.0


def festival_demand_factor(day: date, cfg: CityConfig) -> float:
    """Clinical use dips less than collection: elective surgery pauses for the holiday week."""
    r = festival_offset(day)
    return 1.0 - cfg.festival_demand_dip if -2 <= r <= 5 else 1.0


def in_festival(day: date) -> bool:
    return -10 <= festival_offset(day) <= 13


def festival_end(day: date) -> date:
    """The last day of the festival season ``day`` falls in."""
    return day + timedelta(days=13 - festival_offset(day))


def is_student_vacation(day: date) -> bool:
    """Winter vacation (about three weeks before to three weeks after New Year) and the summer
    vacation (mid-July to the end of August)."""
    if -24 <= festival_offset(day) <= 20:
        return True
    return (day.month == 7 and day.day >= 10) or day.month == 8


def students_away(day: date) -> bool:
    """Vacation outside the festival itself: the festival dip already counts students going home."""
    return is_student_vacation(day) and not in_festival(day)


def heat_factor(day: date, cfg: CityConfig) -> float:
    return 1.0 - cfg.heat_dip if day.month in (7, 8) else 1.0


def campaign_factor(day: date, campaigns: list[Campaign], cfg: CityConfig) -> float:
    """Uplift around campaign days (World Blood Donor Day, 14 June, the largest): triangular,
    full on the day, fading to nothing just beyond the window."""
    best = 0.0
    for campaign in campaigns:
        for year in (day.year - 1, day.year, day.year + 1):
            on = campaign.date_in(year)
            if on is None:
                continue
            distance = abs((day - on).days)
            if distance <= campaign.window_days:
                weight = 1.0 - distance / (campaign.window_days + 1)
                uplift = cfg.campaign_uplift * (2.0 if on.month == 6 and on.day == 14 else 1.0)
                best = max(best, uplift * weight)
    return 1.0 + best


def years_since(day: date, start: date) -> float:
    return (day - start).days / 365.25


def growth(rate_per_year: float, day: date, start: date) -> float:
    """Compound growth factor on ``day`` against ``start``."""
    return float((1.0 + rate_per_year) ** years_since(day, start))


def daterange(start: date, days: int) -> list[date]:
    return [start + timedelta(days=i) for i in range(days)]
