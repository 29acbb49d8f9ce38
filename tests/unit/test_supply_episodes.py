"""Early-warning episodes: raised once while the projection keeps crossing, withdrawn when it
recovers, raised anew by a later crossing; and the projection itself on a known history."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from models.rules import InventoryRules, SupplyRules
from models.supply import Crossing, DailyHistory, Projection, forecast_all, update_episodes

KEY = ("O+", "red_cells")
DAY = date(2026, 1, 10)


def projection(crossing: bool) -> Projection:
    c = Crossing("short", 5.0, DAY + timedelta(days=4), 4, 0.7) if crossing else None
    return Projection("O+", "red_cells", 30.0, 6.0, "tight", [], c)


def test_raised_once_per_episode_and_withdrawn_on_recovery() -> None:
    open_: dict[tuple[str, str], str] = {}
    (first,) = update_episodes(open_, [projection(True)], DAY)
    assert first.kind == "raise" and first.crossing is not None
    open_[KEY] = first.episode
    assert update_episodes(open_, [projection(True)], DAY + timedelta(days=1)) == []
    (withdrawn,) = update_episodes(open_, [projection(False)], DAY + timedelta(days=2))
    assert (withdrawn.kind, withdrawn.episode) == ("withdraw", first.episode)
    del open_[KEY]
    (again,) = update_episodes(open_, [projection(True)], DAY + timedelta(days=3))
    assert again.kind == "raise" and again.episode != first.episode


def test_falling_stock_is_projected_to_cross_the_line() -> None:
    """Use 10 a day, collection 8 a day, 80 units in stock (8 days): the stock falls by 2 a day,
    so 7 days of supply (70 units) is crossed on day 6 (68 units)."""
    n = 120
    history = DailyHistory(start=date(2025, 9, 1), days=n)
    rng = np.random.default_rng(1)
    history.use[KEY] = 10 + rng.normal(0, 0.3, n)
    history.collection[KEY] = 8 + rng.normal(0, 0.3, n)
    history.stock_end[KEY] = 80.0
    (p,) = forecast_all(history, SupplyRules(alert_probability=0.5), InventoryRules(), ())
    assert p.level_now == "normal" and abs(p.days_of_supply_now - 8.0) < 0.3  # type: ignore[operator]
    assert p.crossing is not None and p.crossing.level == "tight"
    assert p.crossing.ahead in (5, 6, 7)
    assert 0.5 <= p.crossing.probability <= 1
    assert p.days[-1].stock < p.days[0].stock


def test_a_few_weeks_over_the_spring_festival_still_forecast() -> None:
    """Six weeks of history across the festival: calendar phases coincide (a rank-deficient
    design) and there is no year for trend and seasonality; the forecast stays finite."""
    n = 42
    history = DailyHistory(start=date(2026, 1, 20), days=n)
    rng = np.random.default_rng(2)
    history.use[KEY] = rng.poisson(6, n).astype(float)
    history.collection[KEY] = rng.poisson(6, n).astype(float)
    history.stock_end[KEY] = 40.0
    (p,) = forecast_all(history, SupplyRules(), InventoryRules(), ())
    assert all(np.isfinite(d.stock) and 0 <= d.use < 20 for d in p.days)
    assert all(d.days_of_supply is None or 0 <= d.days_of_supply < 100 for d in p.days)
