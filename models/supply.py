"""Supply early warning, as pure functions: daily history, forecast, projected days of supply,
forecast crossings of the warning levels, and episodes of alerts.

Per ABO/RhD group × component, two daily series: **collection** (components produced and so
entering the city's stock) and **clinical use** (units issued to wards: the city's demand, as
in models.inventory). Each is forecast ``supply.horizon_days`` ahead by an ordinary
least-squares regression (statsmodels) on the calendar (models.supply_calendar: weekday,
public holidays and make-up working days, Spring Festival phases, school vacations, campaign
days, annual seasonality, trend), with prediction intervals.

The projection starts from the city's stock at the end of the last day of history (the flow
of produced − issued − discarded + returned units, so history and stock agree by
construction) and adds forecast collection, less forecast use and the recent discard rate.
Days of supply on a day ahead = projected stock ÷ mean daily use over the
``inventory.mean_issue_window_days`` ending that day (actual use, then forecast), as
models.inventory measures it today. The probability of being under a level uses the
forecasts' variances, summed over the days ahead (errors of different days independent).
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import statsmodels.api as sm
from statsmodels.tools.sm_exceptions import SingularMatrixWarning

from models.rules import InventoryRules, SupplyRules
from models.supply_calendar import FEATURE_NAMES, Campaign, features

SeriesKey = tuple[str, str]  # (abo_rh, component_type)
SERIES = ("collection", "use")


@dataclass
class DailyHistory:
    """Daily counts per (group, component) from ``start`` for ``len(days)`` local days, and
    the stock at the end of the last day (None: not known, taken as the flow's own sum)."""

    start: date
    days: int
    collection: dict[SeriesKey, np.ndarray] = field(default_factory=dict)
    use: dict[SeriesKey, np.ndarray] = field(default_factory=dict)
    discards: dict[SeriesKey, np.ndarray] = field(default_factory=dict)
    returns: dict[SeriesKey, np.ndarray] = field(default_factory=dict)
    stock_end: dict[SeriesKey, float] = field(default_factory=dict)
    first_event: datetime | None = None
    last_event: datetime | None = None

    @property
    def keys(self) -> list[SeriesKey]:
        return sorted(set(self.collection) | set(self.use))

    @property
    def end(self) -> date:
        """The last day of history."""
        return self.start + timedelta(days=self.days - 1)

    def series(self, name: str, key: SeriesKey) -> np.ndarray:
        table: dict[SeriesKey, np.ndarray] = getattr(self, name)
        return table.get(key, np.zeros(self.days))

    def stock(self, key: SeriesKey) -> np.ndarray:
        """City stock at the end of each day, by the flow (ending at stock_end if given)."""
        net = (
            self.series("collection", key)
            - self.series("use", key)
            - self.series("discards", key)
            + self.series("returns", key)
        )
        level = np.cumsum(net)
        if key in self.stock_end:
            level = level - level[-1] + self.stock_end[key]
        return level  # type: ignore[no-any-return]

    def window(self, start: date, end: date) -> DailyHistory:
        """The days from ``start`` to ``end`` inclusive (stock carried through)."""
        a = max(0, (start - self.start).days)
        b = min(self.days, (end - self.start).days + 1)
        out = DailyHistory(start=self.start + timedelta(days=a), days=max(0, b - a))
        for name in ("collection", "use", "discards", "returns"):
            table: dict[SeriesKey, np.ndarray] = getattr(self, name)
            setattr(out, name, {k: v[a:b] for k, v in table.items()})
        if b > a:
            out.stock_end = {k: float(self.stock(k)[b - 1]) for k in self.keys}
        return out


def history_from_counts(
    rows: Iterable[tuple[str, date, str, str, int]],
    *,
    start: date,
    end: date,
    stock_end: Mapping[SeriesKey, float] | None = None,
) -> DailyHistory:
    """From (series, local day, group, component, count) rows: series is collection, use,
    discards or returns; rows outside [start, end] are ignored."""
    n = (end - start).days + 1
    hist = DailyHistory(start=start, days=max(0, n))
    for name, day, group, component, count in rows:
        i = (day - start).days
        if not 0 <= i < n:
            continue
        table: dict[SeriesKey, np.ndarray] = getattr(hist, name)
        key = (group, component)
        if key not in table:
            table[key] = np.zeros(n)
        table[key][i] += count
    hist.stock_end = dict(stock_end or {})
    return hist


def history_from_events(events: Iterable[Mapping[str, Any]], timezone: str) -> DailyHistory:
    """Daily series from wire events (a simulation, a file), in local days. Used by the
    backtest; the platform reads the same counts from the warehouse (streams/supply.py)."""
    tz = ZoneInfo(timezone)
    kind: dict[tuple[str, str], SeriesKey] = {}
    rows: list[tuple[str, date, str, str, int]] = []
    first = last = None
    for e in events:
        t = e["type"]
        if t not in ("component.produced", "unit.issued", "unit.discarded", "unit.returned"):
            continue
        at = datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00"))
        first = at if first is None or at < first else first
        last = at if last is None or at > last else last
        p = e["payload"]
        ref = (p["din"][:13], p.get("product_code") or "")
        if t == "component.produced":
            kind[ref] = (p["abo_rh"], p["component_type"])
            name = "collection"
        elif ref not in kind:
            continue  # a donation never split (or a unit produced before the history began)
        else:
            name = {"unit.issued": "use", "unit.discarded": "discards"}.get(t, "returns")
        group, component = kind[ref]
        rows.append((name, at.astimezone(tz).date(), group, component, 1))
    if first is None or last is None:
        today = datetime.now(UTC).date()
        return DailyHistory(start=today, days=0)
    hist = history_from_counts(
        rows, start=first.astimezone(tz).date(), end=last.astimezone(tz).date()
    )
    hist.first_event, hist.last_event = first, last
    return hist


# ---- forecasting ---------------------------------------------------------------------------
@dataclass
class SeriesForecast:
    mean: np.ndarray  # per day ahead (1..horizon)
    lower: np.ndarray
    upper: np.ndarray
    variance: np.ndarray  # of one day's count (observation), per day ahead


def _design(days: Sequence[date], origin: date, campaigns: tuple[Campaign, ...]) -> np.ndarray:
    return np.array([features(d, origin, campaigns) for d in days], dtype=float)


_YEARLY_COLUMNS = frozenset(
    i for i, name in enumerate(FEATURE_NAMES) if name == "trend" or name.startswith("annual_")
)


class CalendarModel:
    """OLS fits on the calendar features. The design matrix covers the history and the days
    ahead; it is built once and shared by every series of the same history (and, in the
    backtest, by every origin: a fit uses rows [fit_start, fit_end) and predicts the next)."""

    def __init__(
        self,
        start: date,
        days: int,
        horizon: int,
        campaigns: tuple[Campaign, ...],
        interval: float,
    ) -> None:
        self.start, self.days, self.horizon, self.interval = start, days, horizon, interval
        span = [start + timedelta(days=i) for i in range(days + horizon)]
        self.x = _design(span, start, campaigns)

    def fit(self, y: np.ndarray, first: int, end: int) -> Fitted | None:
        """Fit on days [first, end) of ``y`` (indices into the design)."""
        past = self.x[first:end]
        target = y[first:end]
        if not np.any(target):
            return None
        # Features that never vary in the fitted days (a phase not seen yet) are left out,
        # so the fit stays well defined on a short history.
        # Trend and annual seasonality need a year to be told apart (on a few weeks they
        # extrapolate wildly): with less history the model is weekday and calendar only.
        short = end - first < 365
        keep = np.array(
            [0]
            + [
                j
                for j in range(1, past.shape[1])
                if np.ptp(past[:, j]) > 0 and not (short and j in _YEARLY_COLUMNS)
            ]
        )
        # pinv (SVD): a rank-deficient design (phases that coincide in a short history) still fits.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SingularMatrixWarning)  # expected: see above
            fit = sm.OLS(target, past[:, keep]).fit()
        return Fitted(keep, np.asarray(fit.params), float(fit.scale), np.asarray(fit.cov_params()))

    def predict(self, fitted: Fitted | None, rows: slice) -> SeriesForecast:
        n = len(range(*rows.indices(len(self.x))))
        if fitted is None:
            zero = np.zeros(n)
            return SeriesForecast(zero, zero, zero, zero)
        x = self.x[rows][:, fitted.keep]
        mean = x @ fitted.params
        variance = fitted.scale + np.einsum("ij,jk,ik->i", x, fitted.cov, x)
        half = _z(self.interval) * np.sqrt(variance)
        return SeriesForecast(
            np.clip(mean, 0, None),
            np.clip(mean - half, 0, None),
            np.clip(mean + half, 0, None),
            variance,
        )

    def forecast(self, y: np.ndarray) -> SeriesForecast:
        """Fit on the whole history; the ``horizon`` days after it."""
        return self.predict(self.fit(y, 0, self.days), slice(self.days, self.days + self.horizon))


@dataclass
class Fitted:
    keep: np.ndarray  # columns of the design used
    params: np.ndarray
    scale: float  # residual variance
    cov: np.ndarray  # of the parameters


@dataclass
class DayAhead:
    day: date
    ahead: int
    collection: float
    collection_low: float
    collection_high: float
    use: float
    use_low: float
    use_high: float
    stock: float
    stock_low: float
    stock_high: float
    days_of_supply: float | None
    level: str
    p_below: dict[str, float]  # level -> probability of being below its lower bound


@dataclass
class Projection:
    abo_rh: str
    component_type: str
    stock_now: float
    days_of_supply_now: float | None
    level_now: str
    days: list[DayAhead]
    crossing: Crossing | None

    def to_json(self) -> dict[str, Any]:
        return {
            "abo_rh": self.abo_rh,
            "component_type": self.component_type,
            "stock_now": round(self.stock_now, 1),
            "days_of_supply_now": _r(self.days_of_supply_now),
            "level_now": self.level_now,
            "crossing": self.crossing.to_json() if self.crossing else None,
            "days": [
                {
                    "day": d.day.isoformat(),
                    "ahead": d.ahead,
                    "collection": [
                        round(d.collection, 2),
                        round(d.collection_low, 2),
                        round(d.collection_high, 2),
                    ],
                    "use": [round(d.use, 2), round(d.use_low, 2), round(d.use_high, 2)],
                    "stock": [round(d.stock, 1), round(d.stock_low, 1), round(d.stock_high, 1)],
                    "days_of_supply": _r(d.days_of_supply),
                    "level": d.level,
                    "p_below": {k: round(v, 3) for k, v in d.p_below.items()},
                }
                for d in self.days
            ],
        }


@dataclass
class Crossing:
    """The first day ahead the projection is more likely than not (``alert_probability``)
    under a level's lower bound."""

    level: str  # the level entered (tight, short, critical)
    line_days: float  # the days-of-supply line crossed
    day: date
    ahead: int
    probability: float

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "line_days": self.line_days,
            "day": self.day.isoformat(),
            "ahead": self.ahead,
            "probability": round(self.probability, 3),
        }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def level_lines(component: str, rules: InventoryRules) -> dict[str, float]:
    """Level -> the days of supply below which a key is in it (worse levels later)."""
    if component == "platelets":
        return {
            "tight": rules.platelets_normal_min_days,
            "short": rules.platelets_tight_min_days,
            "critical": rules.platelets_critical_below_days,
        }
    return {
        "tight": rules.normal_min_days,
        "short": rules.tight_min_days,
        "critical": rules.short_min_days,
    }


def level_of(days_of_supply: float | None, component: str, rules: InventoryRules) -> str:
    if days_of_supply is None:
        return "normal"
    level = "normal"
    for name, line in level_lines(component, rules).items():
        if days_of_supply < line:
            level = name
    return level


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def days_of_supply(stock: np.ndarray, use: np.ndarray, window: int) -> np.ndarray:
    """Stock ÷ mean daily use over the ``window`` days ending each day (NaN without use)."""
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window - 1, np.nan), use])
    mean_use = np.convolve(np.nan_to_num(padded, nan=0.0), kernel, mode="valid")
    counts = np.convolve(~np.isnan(padded), np.ones(window), mode="valid")
    mean_use = np.where(counts > 0, mean_use * window / np.maximum(counts, 1), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mean_use > 0, stock / mean_use, np.nan)  # type: ignore[no-any-return]


def project(
    key: SeriesKey,
    history: DailyHistory,
    model: CalendarModel,
    rules: SupplyRules,
    inventory: InventoryRules,
) -> Projection:
    """Forecast one group × component and project its days of supply."""
    recent = rules.discard_rate_days
    discards = history.series("discards", key)[-recent:]
    returns = history.series("returns", key)[-recent:]
    stock = history.stock(key)
    return project_from(
        key,
        model.forecast(history.series("collection", key)),
        model.forecast(history.series("use", key)),
        past_use=history.series("use", key),
        stock_now=float(stock[-1]) if len(stock) else 0.0,
        drift=(float(discards.sum()) - float(returns.sum())) / max(1, len(discards)),
        last_day=history.end,
        rules=rules,
        inventory=inventory,
    )


def project_from(
    key: SeriesKey,
    collection: SeriesForecast,
    use: SeriesForecast,
    *,
    past_use: np.ndarray,
    stock_now: float,
    drift: float,
    last_day: date,
    rules: SupplyRules,
    inventory: InventoryRules,
) -> Projection:
    """Project stock and days of supply from forecasts, the stock at the end of ``last_day``,
    the use before it and the daily net loss to discards (``drift``)."""
    group, component = key
    window = inventory.mean_issue_window_days
    horizon = len(collection.mean)
    stock = stock_now + np.cumsum(collection.mean - use.mean - drift)
    sd = np.sqrt(np.cumsum(collection.variance + use.variance))
    z = _z(rules.interval)
    before = past_use[-(window - 1) :] if window > 1 else past_use[:0]
    all_use = np.concatenate([before, use.mean])
    mean_use = np.convolve(all_use, np.ones(window) / window, mode="valid")[-horizon:]
    observed = past_use[-window:]
    mean_now = float(observed.mean()) if len(observed) else 0.0
    dos_now = stock_now / mean_now if mean_now > 0 else None
    lines = level_lines(component, inventory)
    order = ["normal", *lines]
    now_level = level_of(dos_now, component, inventory)
    days: list[DayAhead] = []
    crossing: Crossing | None = None
    for h in range(horizon):
        day = last_day + timedelta(days=h + 1)
        m = float(mean_use[h]) if h < len(mean_use) else 0.0
        # Below zero the shelf is empty (demand unmet): days of supply is 0, not negative.
        dos = max(0.0, float(stock[h])) / m if m > 0 else None
        p_below: dict[str, float] = {}
        for name, line in lines.items():
            if m <= 0:
                p_below[name] = 0.0
            elif sd[h] > 0:
                p_below[name] = _phi((line * m - stock[h]) / sd[h])
            else:
                p_below[name] = float(stock[h] < line * m)
        days.append(
            DayAhead(
                day,
                h + 1,
                float(collection.mean[h]),
                float(collection.lower[h]),
                float(collection.upper[h]),
                float(use.mean[h]),
                float(use.lower[h]),
                float(use.upper[h]),
                float(stock[h]),
                float(stock[h] - z * sd[h]),
                float(stock[h] + z * sd[h]),
                dos,
                level_of(dos, component, inventory),
                p_below,
            )
        )
        if crossing is None:
            # The worst level, below today's, the projection is likely to enter this day.
            worse = [
                name
                for name in lines
                if order.index(name) > order.index(now_level)
                and p_below[name] >= rules.alert_probability
            ]
            if worse:
                name = worse[-1]
                crossing = Crossing(name, lines[name], day, h + 1, p_below[name])
    return Projection(group, component, stock_now, dos_now, now_level, days, crossing)


def _num(x: float) -> float | None:
    return None if math.isnan(x) else x


def _z(interval: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + interval / 2)


def forecast_all(
    history: DailyHistory,
    rules: SupplyRules,
    inventory: InventoryRules,
    campaigns: tuple[Campaign, ...],
    *,
    keys: Iterable[SeriesKey] | None = None,
) -> list[Projection]:
    """A projection per group × component with history (fitted on the last
    ``supply.history_days`` days)."""
    if history.days < rules.min_history_days:
        return []
    if history.days > rules.history_days:
        history = history.window(history.end - timedelta(days=rules.history_days - 1), history.end)
    model = CalendarModel(
        history.start, history.days, rules.horizon_days, campaigns, rules.interval
    )
    wanted = set(keys) if keys is not None else None
    return [
        project(key, history, model, rules, inventory)
        for key in history.keys
        if wanted is None or key in wanted
    ]


# ---- episodes --------------------------------------------------------------------------------
@dataclass
class EpisodeChange:
    """What a new forecast changes in the open warnings of one key."""

    kind: str  # "raise", "withdraw"
    key: SeriesKey
    crossing: Crossing | None
    episode: str  # the episode's id: key + the day it opened (stable while it lasts)


def update_episodes(
    open_episodes: Mapping[SeriesKey, str],
    projections: Iterable[Projection],
    run_day: date,
) -> list[EpisodeChange]:
    """Raise once per episode (a key not warned yet whose projection crosses a line), and
    withdraw an open warning once its projection recovers (no crossing any more)."""
    changes: list[EpisodeChange] = []
    seen: set[SeriesKey] = set()
    for p in projections:
        key = (p.abo_rh, p.component_type)
        seen.add(key)
        if p.crossing is not None and key not in open_episodes:
            episode = f"{p.abo_rh}|{p.component_type}|{run_day.isoformat()}"
            changes.append(EpisodeChange("raise", key, p.crossing, episode))
        elif p.crossing is None and key in open_episodes:
            changes.append(EpisodeChange("withdraw", key, None, open_episodes[key]))
    return changes


# ---- backtest --------------------------------------------------------------------------------
def mase(actual: np.ndarray, predicted: np.ndarray, scale: float) -> float:
    return float(np.mean(np.abs(actual - predicted)) / scale) if scale > 0 else math.nan


def group_totals(rows: Iterable[tuple[str, float]]) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for k, v in rows:
        out[k] += v
    return dict(out)
