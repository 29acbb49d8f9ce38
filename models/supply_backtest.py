"""Backtest of the supply forecast on a history (a simulated city): forecast error against two
naive baselines, and how early each crossing of the warning line was forecast (pure).

For each origin day (the last day known) after ``train_days``, the model fitted on the history
up to then (refitted every ``supply.refit_days``) forecasts ``ahead`` days on. Its error is
the MASE (mean absolute error ÷ the in-sample mean absolute weekly difference) against:
the seasonal-naive forecast (the same weekday last week) and "same period last year" (the same
weekday 52 weeks before).

Crossings: the actual days of supply (stock ÷ mean use over the issue window) going from at or
above the warning line to below it. An alarm at an origin is a projection from that day that
crosses the line within the horizon while the actual level is still above it. A crossing is
forecast ``k`` days ahead when the origins ``t-1 … t-k`` all raised an alarm; a run of alarms
with no crossing during it or within the horizon after it is a false alarm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from models.rules import InventoryRules, SupplyRules
from models.supply import (
    CalendarModel,
    DailyHistory,
    Fitted,
    SeriesKey,
    days_of_supply,
    level_lines,
    project_from,
)
from models.supply_calendar import Campaign


@dataclass
class KeyBacktest:
    key: SeriesKey
    mase: dict[str, dict[str, float]]  # series -> method -> MASE
    crossings: list[dict[str, Any]] = field(default_factory=list)
    false_alarms: int = 0
    alarm_days: int = 0
    origins: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "abo_rh": self.key[0],
            "component_type": self.key[1],
            "mase": {s: {m: round(v, 3) for m, v in d.items()} for s, d in self.mase.items()},
            "crossings": self.crossings,
            "false_alarms": self.false_alarms,
            "alarm_days": self.alarm_days,
            "origins": self.origins,
        }


@dataclass
class Backtest:
    keys: list[KeyBacktest]
    warning_level: str
    ahead: int

    @property
    def crossings(self) -> list[dict[str, Any]]:
        return [c for k in self.keys for c in k.crossings]

    def share_forecast(self, min_lead: int) -> float:
        found = self.crossings
        if not found:
            return math.nan
        return sum(1 for c in found if c["lead_days"] >= min_lead) / len(found)

    @property
    def false_alarms(self) -> int:
        return sum(k.false_alarms for k in self.keys)

    def to_json(self) -> dict[str, Any]:
        return {
            "warning_level": self.warning_level,
            "ahead_days": self.ahead,
            "crossings": len(self.crossings),
            "forecast_3_days_ahead": round(self.share_forecast(3), 3),
            "false_alarms": self.false_alarms,
            "keys": [k.to_json() for k in self.keys],
        }


def _mase(actual: np.ndarray, predicted: np.ndarray, scale: float) -> float:
    return float(np.mean(np.abs(actual - predicted)) / scale) if scale > 0 else math.nan


def backtest(
    history: DailyHistory,
    rules: SupplyRules,
    inventory: InventoryRules,
    campaigns: tuple[Campaign, ...],
    *,
    component: str = "red_cells",
    train_days: int = 365,
    ahead: int = 7,
    min_daily_use: float = 0.5,
) -> Backtest:
    if history.days < train_days + ahead + 1 or train_days < 364:
        raise ValueError("the backtest needs a year of training history and a week after it")
    # Small least-squares problems: BLAS threads only fight over the cores.
    with threadpool_limits(limits=1, user_api="blas"):
        return _backtest(
            history, rules, inventory, campaigns, component, train_days, ahead, min_daily_use
        )


def _backtest(
    history: DailyHistory,
    rules: SupplyRules,
    inventory: InventoryRules,
    campaigns: tuple[Campaign, ...],
    component: str,
    train_days: int,
    ahead: int,
    min_daily_use: float,
) -> Backtest:
    horizon = rules.horizon_days
    model = CalendarModel(history.start, history.days, horizon, campaigns, rules.interval)
    line = level_lines(component, inventory)[rules.warning_level]
    window = inventory.mean_issue_window_days
    out: list[KeyBacktest] = []
    for key in history.keys:
        if key[1] != component:
            continue
        use = history.series("use", key)
        if use.mean() < min_daily_use:
            continue  # a rare group (RhD negative): a few units a year, nothing to forecast
        series = {"collection": history.series("collection", key), "use": use}
        stock = history.stock(key)
        dos = days_of_supply(stock, use, window)
        losses = history.series("discards", key) - history.series("returns", key)
        fits: dict[str, Fitted | None] = {}
        errors: dict[str, dict[str, list[float]]] = {
            s: {"model": [], "seasonal_naive": [], "same_period_last_year": [], "actual": []}
            for s in series
        }
        alarms: list[tuple[int, bool]] = []  # (origin, alarm)
        last_origin = history.days - 1
        for o in range(train_days - 1, last_origin):
            if (o - train_days + 1) % rules.refit_days == 0:
                first = max(0, o + 1 - rules.history_days)
                fits = {s: model.fit(y, first, o + 1) for s, y in series.items()}
            forecasts = {s: model.predict(fits[s], slice(o + 1, o + 1 + horizon)) for s in series}
            target = o + ahead
            if target < history.days:
                for s, y in series.items():
                    errors[s]["actual"].append(y[target])
                    errors[s]["model"].append(forecasts[s].mean[ahead - 1])
                    errors[s]["seasonal_naive"].append(y[target - 7])
                    errors[s]["same_period_last_year"].append(y[target - 364])
            recent = losses[max(0, o + 1 - rules.discard_rate_days) : o + 1]
            projection = project_from(
                key,
                forecasts["collection"],
                forecasts["use"],
                past_use=use[: o + 1],
                stock_now=float(stock[o]),
                drift=float(recent.mean()) if len(recent) else 0.0,
                last_day=history.start,  # days are not needed here, only their order
                rules=rules,
                inventory=inventory,
            )
            above = not np.isnan(dos[o]) and dos[o] >= line
            alarm = above and any(
                d.p_below[rules.warning_level] >= rules.alert_probability for d in projection.days
            )
            alarms.append((o, alarm))
        mase: dict[str, dict[str, float]] = {}
        for s, y in series.items():
            train = y[:train_days]
            scale = float(np.mean(np.abs(train[7:] - train[:-7])))
            actual = np.array(errors[s]["actual"])
            mase[s] = {
                m: _mase(actual, np.array(errors[s][m]), scale)
                for m in ("model", "seasonal_naive", "same_period_last_year")
            }
        result = KeyBacktest(key, mase, origins=len(alarms))
        alarm_at = dict(alarms)
        result.alarm_days = sum(1 for _, a in alarms if a)
        # An episode: below the line for at least ``episode_min_days`` days, after at least
        # ``recovery_days`` at or above it (a one-day dip of a few units is not a shortage).
        below = [bool(np.isnan(v) or v < line) for v in dos]
        crossing_days = [
            t
            for t in range(max(train_days, rules.recovery_days), history.days)
            if below[t]
            and not any(below[t - rules.recovery_days : t])
            and all(below[t : t + rules.episode_min_days])
        ]
        for t in crossing_days:
            lead = 0
            while lead < horizon and alarm_at.get(t - lead - 1, False):
                lead += 1
            result.crossings.append(
                {
                    "abo_rh": key[0],
                    "day": (history.start + _days(t)).isoformat(),
                    "forecast": lead > 0,
                    "lead_days": lead,
                }
            )
        # Runs of alarms; a run with no crossing during it or within the horizon after it.
        run_start: int | None = None
        for o, a in [*alarms, (last_origin, False)]:
            if a and run_start is None:
                run_start = o
            elif not a and run_start is not None:
                if not any(run_start < t <= o - 1 + horizon for t in crossing_days):
                    result.false_alarms += 1
                run_start = None
        out.append(result)
    return Backtest(out, rules.warning_level, ahead)


def _days(n: int) -> Any:
    from datetime import timedelta

    return timedelta(days=n)
