"""Inventory as a by-product of unit events, as pure functions.

Stock is never typed in: each donation's components are folded from the unit's own events
(collected, produced, released, quarantined, shipped, received, issued, returned, transfused,
discarded) into a current state and place, and the units leaving a facility's stock for use
(issued to a ward, or shipped to another facility) are its demand.

Days of supply = units available ÷ mean daily outflow over the window (7 or 14 days). For a
facility the outflow is what it issues and ships; for the whole city (facility ``*``) it is what
is issued to wards, since shipments between facilities are not use. Levels (assumed defaults,
../shared/domain/README.md §4): ≥ 7 days normal, 5–7 tight (偏紧), 3–5 short (紧张), < 3 critical
(告急); platelets, which keep 5 days, ≥ 3 normal, 2–3 tight, 1–2 short, < 1 critical. With no
demand in the window there is no days-of-supply figure and the level is normal. Crossing into a
worse level is recorded (and alerted) at once, a recovery only after it has held (``settle``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from models.rules import ColdChainRules, InventoryRules, StorageRules

Status = Literal[
    "quarantined", "available", "in_transit", "issued", "transfused", "discarded", "processed"
]
IN_STOCK: frozenset[str] = frozenset({"quarantined", "available"})
GONE: frozenset[str] = frozenset({"transfused", "discarded", "processed"})
INVENTORY_EVENT_TYPES: tuple[str, ...] = (
    "donation.collected",
    "component.produced",
    "unit.released",
    "unit.quarantined",
    "unit.shipped",
    "unit.received",
    "unit.issued",
    "unit.returned",
    "unit.transfused",
    "unit.discarded",
)
LEVELS: tuple[str, ...] = ("normal", "tight", "short", "critical")
LEVEL_NAMES_ZH: dict[str, str] = {
    "normal": "正常",
    "tight": "偏紧",
    "short": "紧张",
    "critical": "告急",
}
COMPONENT_NAMES_ZH: dict[str, str] = {
    "whole_blood": "全血",
    "red_cells": "悬浮红细胞",
    "washed_red_cells": "洗涤红细胞",
    "platelets": "单采血小板",
    "plasma": "新鲜冰冻血浆",
    "cryoprecipitate": "冷沉淀",
}
CITY = "*"  # the facility id of city-wide rows

StockKey = tuple[str, str, str]  # (facility_id, abo_rh, component_type)


@dataclass(frozen=True, slots=True)
class UnitEvent:
    """The fields of one unit event that inventory needs (normalised identifiers)."""

    event_id: str
    event_type: str
    at: datetime
    facility_id: str
    din: str
    product_code: str = ""
    abo_rh: str = ""
    component_type: str = ""
    expires_at: datetime | None = None
    to_facility_id: str = ""
    minutes_out: float = 0.0
    order: int = 0  # position in the log: breaks ties between events of the same moment


@dataclass(slots=True)
class Component:
    din: str
    product_code: str  # '' = the collected donation before it is processed
    component_type: str
    abo_rh: str
    facility_id: str
    status: str
    expires_at: datetime | None
    updated_at: datetime
    usable: str = "quarantined"  # the in-stock status it returns to after transit or a return


@dataclass(frozen=True, slots=True)
class Outflow:
    event_id: str
    din: str
    product_code: str
    component_type: str
    abo_rh: str
    facility_id: str
    kind: Literal["issue", "ship"]
    at: datetime


@dataclass(slots=True)
class Fold:
    components: list[Component] = field(default_factory=list)
    outflows: list[Outflow] = field(default_factory=list)
    version: int = 0  # grows with every event folded in (the latest fold wins)


def fold_unit(
    events: Iterable[UnitEvent], storage: StorageRules, coldchain: ColdChainRules
) -> Fold:
    """The current state of a donation's components, from all its events in any order."""
    unique = {e.event_id: e for e in events}
    ordered = sorted(unique.values(), key=lambda e: (e.at, e.order))
    parts: dict[str, Component] = {}
    outflows: list[Outflow] = []
    released = False
    for e in ordered:
        kind = e.event_type
        if kind == "donation.collected":
            rule = storage.components.get("whole_blood")
            expires = e.at + timedelta(hours=rule.shelf_life_hours) if rule else None
            parts.setdefault(
                "",
                Component(
                    e.din, "", "whole_blood", e.abo_rh, e.facility_id, "quarantined", expires, e.at
                ),
            )
        elif kind == "component.produced":
            whole = parts.get("")
            if whole is not None and whole.status not in GONE:
                whole.status, whole.updated_at = "processed", e.at
            usable = "available" if released else "quarantined"
            parts[e.product_code] = Component(
                e.din,
                e.product_code,
                e.component_type,
                e.abo_rh or (whole.abo_rh if whole else ""),
                e.facility_id,
                usable,
                e.expires_at,
                e.at,
                usable,
            )
        elif kind == "unit.released":
            released = True
            for part in parts.values():
                part.usable = "available"
                if part.status == "quarantined":
                    part.status, part.updated_at = "available", e.at
        else:
            for part in _targets(parts, e.product_code, e.facility_id):
                outflow = _apply(part, e, coldchain)
                if outflow is not None:
                    outflows.append(outflow)
    version = 0
    if ordered:
        version = int(ordered[-1].at.timestamp() * 1000) * 1024 + min(len(ordered), 1023)
    return Fold(list(parts.values()), outflows, version)


def _targets(parts: dict[str, Component], product_code: str, facility: str) -> list[Component]:
    """The components an event names: its product; without one, those held at (or bound
    for) the event's facility, else every component still held."""
    if product_code and product_code in parts:
        return [parts[product_code]]
    live = [p for p in parts.values() if p.status not in GONE]
    if product_code:
        # A product never seen produced: only an unprocessed donation can be it.
        return [p for p in live if p.product_code == ""]
    here = [p for p in live if p.facility_id == facility]
    return here or live


def _apply(part: Component, e: UnitEvent, coldchain: ColdChainRules) -> Outflow | None:
    kind, before = e.event_type, part.status
    if before in GONE:
        return None
    part.updated_at = e.at
    if kind == "unit.quarantined":
        if before in IN_STOCK:
            part.status = "quarantined"
            part.usable = "quarantined"
        return None
    if kind == "unit.shipped":
        if before not in IN_STOCK:
            return None
        part.status, part.facility_id = "in_transit", e.to_facility_id or part.facility_id
        return _outflow(part, e, e.facility_id, "ship") if before == "available" else None
    if kind == "unit.received":
        if before in ("in_transit", *IN_STOCK):
            part.status, part.facility_id = part.usable, e.facility_id
        return None
    if kind == "unit.issued":
        if before not in IN_STOCK and before != "in_transit":
            return None
        part.status, part.facility_id = "issued", e.facility_id
        return _outflow(part, e, e.facility_id, "issue")
    if kind == "unit.returned":
        if before == "issued":
            # Back in stock only if it stayed cold enough; otherwise held for discard.
            ok = e.minutes_out <= coldchain.return_max_minutes_out
            part.status = part.usable if ok else "quarantined"
            if not ok:
                part.usable = "quarantined"
            part.facility_id = e.facility_id
        return None
    if kind == "unit.transfused":
        part.status = "transfused"
    elif kind == "unit.discarded":
        part.status = "discarded"
    return None


def _outflow(
    part: Component, e: UnitEvent, facility: str, kind: Literal["issue", "ship"]
) -> Outflow:
    return Outflow(
        e.event_id,
        part.din,
        part.product_code,
        part.component_type,
        part.abo_rh,
        facility,
        kind,
        e.at,
    )


# ---- days of supply and levels -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LevelReading:
    available: int
    outflow: int  # units out in the window
    window_days: float
    level: str

    @property
    def mean_daily_issue(self) -> float:
        return self.outflow / self.window_days

    @property
    def days_of_supply(self) -> float | None:
        mean = self.mean_daily_issue
        return self.available / mean if mean > 0 else None


def level_for(days: float | None, component_type: str, rules: InventoryRules) -> str:
    if days is None:
        return "normal"
    if component_type == "platelets":
        bounds = (
            rules.platelets_normal_min_days,
            rules.platelets_tight_min_days,
            rules.platelets_critical_below_days,
        )
    else:
        bounds = (rules.normal_min_days, rules.tight_min_days, rules.short_min_days)
    for level, minimum in zip(LEVELS, bounds, strict=False):
        if days >= minimum:
            return level
    return "critical"


def is_worse(new: str, old: str) -> bool:
    return LEVELS.index(new) > LEVELS.index(old)


def evaluate(
    available: Mapping[StockKey, int],
    outflow: Mapping[StockKey, int],
    window_days: float,
    rules: InventoryRules,
) -> dict[StockKey, LevelReading]:
    """A level for every key with stock or demand."""
    out = {}
    for key in sorted(available.keys() | outflow.keys()):
        stock, used = available.get(key, 0), outflow.get(key, 0)
        days = stock / (used / window_days) if used else None
        out[key] = LevelReading(stock, used, window_days, level_for(days, key[2], rules))
    return out


def city_totals(
    available: Mapping[StockKey, int], issued: Mapping[StockKey, int]
) -> tuple[dict[StockKey, int], dict[StockKey, int]]:
    """City-wide stock and demand per group and component (facility ``*``)."""
    stock: dict[StockKey, int] = {}
    used: dict[StockKey, int] = {}
    for (_, group, ctype), n in available.items():
        stock[(CITY, group, ctype)] = stock.get((CITY, group, ctype), 0) + n
    for (_, group, ctype), n in issued.items():
        used[(CITY, group, ctype)] = used.get((CITY, group, ctype), 0) + n
    return stock, used


@dataclass(frozen=True, slots=True)
class Transition:
    key: StockKey
    previous: str
    level: str
    reading: LevelReading

    @property
    def worse(self) -> bool:
        return is_worse(self.level, self.previous)


def transitions(
    previous: Mapping[StockKey, str], current: Mapping[StockKey, LevelReading]
) -> list[Transition]:
    """Level changes; a key never seen before counts as coming from normal."""
    return [
        Transition(key, previous.get(key, "normal"), reading.level, reading)
        for key, reading in current.items()
        if reading.level != previous.get(key, "normal")
    ]


def settle(
    previous: Mapping[StockKey, str],
    current: Mapping[StockKey, LevelReading],
    improving: dict[StockKey, datetime],
    as_of: datetime,
    hold: timedelta,
) -> list[Transition]:
    """The level changes to record now: a worse level at once (that is the alert), a better
    one only once it has held for ``hold`` of event time. ``improving`` (key -> since when the
    level has been better than recorded) is updated in place.

    Without the hold, a key with little stock flips between levels with every unit in or out
    (0 units: critical; 1 unit: 7 days, normal; issued: critical again), and every flip back is
    a new crossing into a worse level, so a new alert.
    """
    record = []
    changed = {t.key: t for t in transitions(previous, current)}
    for key in list(improving):
        if key not in changed or changed[key].worse:
            del improving[key]  # back at (or below) the recorded level: the recovery is off
    for key, t in changed.items():
        if t.worse:
            record.append(t)
            continue
        since = improving.setdefault(key, as_of)
        if as_of - since >= hold:
            record.append(t)
            del improving[key]
    return record


# ---- expiring units: where they could still be used ----------------------------------------
def city_of(facility_id: str, rules: InventoryRules) -> str:
    return rules.facility_city.get(facility_id, rules.default_city)


def suggest_destination(
    facility_id: str,
    abo_rh: str,
    component_type: str,
    levels: Mapping[StockKey, LevelReading],
    rules: InventoryRules,
) -> tuple[str, LevelReading] | None:
    """The facility of the same city most short of this group and component, if any is."""
    city = city_of(facility_id, rules)
    candidates = [
        (key[0], reading)
        for key, reading in levels.items()
        if key[1] == abo_rh
        and key[2] == component_type
        and key[0] not in (facility_id, CITY)
        and reading.level != "normal"
        and city_of(key[0], rules) == city
    ]
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda c: (-LEVELS.index(c[1].level), c[1].days_of_supply or 0.0, c[0]),
    )
