"""The cold chain's rules as pure functions: excursions, exposed units, silent sensors, returns.

Everything here works in event time (``occurred_at``), so a replayed or late stream gives the
same answer as a live one. The stream processor (streams/processors/coldchain.py) only batches
events, keeps these states in Faust tables and persists what they return.

An excursion is kept per equipment and per storage condition (a temperature range, plus
agitation for platelets): a reading outside the condition opens one, later readings extend it
(duration, peak, lowest and highest temperature), and a reading back inside ends it. Its
duration runs from the first reading outside to the latest reading, or to the reading that ended
it (the return happened somewhere in between, so the later bound is the safe one). Once the
duration passes the tolerance the excursion is *confirmed*, and every unit whose stay in the
equipment overlaps it and whose component type the condition protects is flagged, quarantine
recommended; units that arrive later, or whose movement is only learnt later, are flagged too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from models.rules import ColdChainRules, StorageRule, StorageRules

Breach = Literal["too_warm", "too_cold", "not_agitated"]
ExcursionStatus = Literal["open", "confirmed", "ended_within_tolerance", "ended_confirmed"]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


# ---- storage conditions ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Condition:
    """One storage condition: what a set of component types needs from the equipment."""

    min_c: float | None
    max_c: float | None
    needs_agitation: bool

    @property
    def key(self) -> str:
        low = "" if self.min_c is None else f"{self.min_c:g}"
        high = "" if self.max_c is None else f"{self.max_c:g}"
        return f"{low}..{high}" + ("+agitation" if self.needs_agitation else "")

    @classmethod
    def of(cls, rule: StorageRule) -> Condition:
        return cls(rule.min_c, rule.max_c, rule.needs_agitation)

    @classmethod
    def from_key(cls, key: str) -> Condition:
        body, _, agitation = key.partition("+")
        low, _, high = body.partition("..")
        return cls(float(low) if low else None, float(high) if high else None, bool(agitation))

    def breaches(self, temperature_c: float, agitating: bool | None) -> list[Breach]:
        found: list[Breach] = []
        if self.max_c is not None and temperature_c > self.max_c:
            found.append("too_warm")
        if self.min_c is not None and temperature_c < self.min_c:
            found.append("too_cold")
        # Unknown agitation (None) is not a breach: only a reported stop is.
        if self.needs_agitation and agitating is False:
            found.append("not_agitated")
        return found

    def deviation(self, temperature_c: float) -> float:
        """How far outside the range a temperature is (0 inside)."""
        if self.max_c is not None and temperature_c > self.max_c:
            return temperature_c - self.max_c
        if self.min_c is not None and temperature_c < self.min_c:
            return self.min_c - temperature_c
        return 0.0

    def describe(self) -> str:
        if self.min_c is not None and self.max_c is not None:
            text = f"{self.min_c:g}–{self.max_c:g} °C"
        elif self.max_c is not None:
            text = f"≤ {self.max_c:g} °C"
        elif self.min_c is not None:
            text = f"≥ {self.min_c:g} °C"
        else:
            text = "any temperature"
        return text + (", agitated" if self.needs_agitation else "")


def effective_type(
    component_type: str | None, equipment_kind: str, rules: ColdChainRules
) -> str | None:
    """The component type whose rule protects a unit: its own, else the equipment's default."""
    return component_type or rules.equipment_default_component.get(equipment_kind)


def condition_for(component_type: str | None, storage: StorageRules) -> Condition | None:
    rule = storage.components.get(component_type or "")
    return Condition.of(rule) if rule is not None else None


# ---- what is in the equipment ------------------------------------------------------------
@dataclass(slots=True)
class Stay:
    """One unit's stay in one piece of equipment."""

    din: str
    product_code: str  # '' when the movement named the donation only
    component_type: str | None
    entered_at: datetime
    left_at: datetime | None = None

    @property
    def key(self) -> str:
        return unit_key(self.din, self.product_code)

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.entered_at <= end and (self.left_at is None or self.left_at > start)

    def to_dict(self) -> dict[str, Any]:
        return {
            "din": self.din,
            "product_code": self.product_code,
            "component_type": self.component_type,
            "entered_at": _iso(self.entered_at),
            "left_at": _iso(self.left_at),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stay:
        return cls(
            data["din"],
            data["product_code"],
            data.get("component_type"),
            datetime.fromisoformat(data["entered_at"]),
            _dt(data.get("left_at")),
        )


def unit_key(din: str, product_code: str) -> str:
    return f"{din}|{product_code}"


@dataclass(frozen=True, slots=True)
class Movement:
    """A unit entering or leaving a piece of equipment (derived from unit events)."""

    kind: Literal["enter", "leave"]
    equipment_id: str
    din: str
    product_code: str
    component_type: str | None
    at: datetime
    facility_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "equipment_id": self.equipment_id,
            "din": self.din,
            "product_code": self.product_code,
            "component_type": self.component_type,
            "at": self.at.isoformat(),
            "facility_id": self.facility_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Movement:
        return cls(
            data["kind"],
            data["equipment_id"],
            data["din"],
            data["product_code"],
            data.get("component_type"),
            datetime.fromisoformat(data["at"]),
            data.get("facility_id", ""),
        )


@dataclass(slots=True)
class Contents:
    """Units in (and recently out of) one piece of equipment."""

    stays: dict[str, Stay] = field(default_factory=dict)

    def present_at(self, moment: datetime) -> list[Stay]:
        return [s for s in self.stays.values() if s.overlaps(moment, moment)]

    def prune(self, before: datetime) -> None:
        """Forget units that left before ``before``."""
        gone = [k for k, s in self.stays.items() if s.left_at is not None and s.left_at < before]
        for key in gone:
            del self.stays[key]

    def to_dict(self) -> dict[str, Any]:
        return {"stays": [s.to_dict() for s in self.stays.values()]}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Contents:
        if not data:
            return cls()
        stays = [Stay.from_dict(s) for s in data.get("stays", [])]
        return cls({s.key: s for s in stays})


# ---- excursions --------------------------------------------------------------------------
@dataclass(slots=True)
class Excursion:
    excursion_id: str
    equipment_id: str
    equipment_kind: str
    facility_id: str
    condition_key: str
    component_types: list[str]
    started_at: datetime
    last_reading_at: datetime
    peak_c: float
    lowest_c: float
    highest_c: float
    readings_out: int = 1
    breaches: list[str] = field(default_factory=list)
    ended_at: datetime | None = None
    confirmed_at: datetime | None = None
    flagged: list[str] = field(default_factory=list)  # unit keys flagged for this excursion
    changes: int = 0  # flags added or withdrawn: orders the persisted versions

    @property
    def condition(self) -> Condition:
        return Condition.from_key(self.condition_key)

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None

    @property
    def until(self) -> datetime:
        return self.ended_at or self.last_reading_at

    @property
    def duration(self) -> timedelta:
        return self.until - self.started_at

    @property
    def status(self) -> ExcursionStatus:
        if self.ended_at is None:
            return "confirmed" if self.confirmed else "open"
        return "ended_confirmed" if self.confirmed else "ended_within_tolerance"

    def to_dict(self) -> dict[str, Any]:
        return {
            "excursion_id": self.excursion_id,
            "equipment_id": self.equipment_id,
            "equipment_kind": self.equipment_kind,
            "facility_id": self.facility_id,
            "condition_key": self.condition_key,
            "component_types": self.component_types,
            "started_at": _iso(self.started_at),
            "last_reading_at": _iso(self.last_reading_at),
            "peak_c": self.peak_c,
            "lowest_c": self.lowest_c,
            "highest_c": self.highest_c,
            "readings_out": self.readings_out,
            "breaches": self.breaches,
            "ended_at": _iso(self.ended_at),
            "confirmed_at": _iso(self.confirmed_at),
            "flagged": self.flagged,
            "changes": self.changes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Excursion:
        return cls(
            excursion_id=data["excursion_id"],
            equipment_id=data["equipment_id"],
            equipment_kind=data["equipment_kind"],
            facility_id=data["facility_id"],
            condition_key=data["condition_key"],
            component_types=list(data["component_types"]),
            started_at=datetime.fromisoformat(data["started_at"]),
            last_reading_at=datetime.fromisoformat(data["last_reading_at"]),
            peak_c=data["peak_c"],
            lowest_c=data["lowest_c"],
            highest_c=data["highest_c"],
            readings_out=data["readings_out"],
            breaches=list(data["breaches"]),
            ended_at=_dt(data.get("ended_at")),
            confirmed_at=_dt(data.get("confirmed_at")),
            flagged=list(data.get("flagged", [])),
            changes=int(data.get("changes", 0)),
        )


def excursion_id(equipment_id: str, condition_key: str, started_at: datetime) -> str:
    text = f"{equipment_id}|{condition_key}|{started_at.isoformat()}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Reading:
    equipment_id: str
    equipment_kind: str
    facility_id: str
    at: datetime
    temperature_c: float
    agitating: bool | None
    interval_seconds: int


@dataclass(slots=True)
class Monitor:
    """What is known about one piece of equipment's telemetry and its excursions."""

    equipment_id: str
    equipment_kind: str = ""
    facility_id: str = ""
    last_reading_at: datetime | None = None
    interval_seconds: int = 300
    open: dict[str, Excursion] = field(default_factory=dict)  # condition key -> excursion
    ended: list[Excursion] = field(default_factory=list)  # recent confirmed ones

    def to_dict(self) -> dict[str, Any]:
        return {
            "equipment_id": self.equipment_id,
            "equipment_kind": self.equipment_kind,
            "facility_id": self.facility_id,
            "last_reading_at": _iso(self.last_reading_at),
            "interval_seconds": self.interval_seconds,
            "open": [e.to_dict() for e in self.open.values()],
            "ended": [e.to_dict() for e in self.ended],
        }

    @classmethod
    def from_dict(cls, equipment_id: str, data: dict[str, Any] | None) -> Monitor:
        if not data:
            return cls(equipment_id)
        opened = [Excursion.from_dict(e) for e in data.get("open", [])]
        return cls(
            equipment_id=equipment_id,
            equipment_kind=data.get("equipment_kind", ""),
            facility_id=data.get("facility_id", ""),
            last_reading_at=_dt(data.get("last_reading_at")),
            interval_seconds=int(data.get("interval_seconds", 300)),
            open={e.condition_key: e for e in opened},
            ended=[Excursion.from_dict(e) for e in data.get("ended", [])],
        )


@dataclass(frozen=True, slots=True)
class UnitFlag:
    """A unit flagged by the cold chain, and what to do with it."""

    din: str
    product_code: str
    component_type: str | None
    reason: Literal["excursion", "returned_out_of_refrigeration"]
    recommendation: Literal["quarantine", "discard"]
    facility_id: str
    equipment_id: str
    excursion_id: str
    exposed_from: datetime  # when the unit's exposure began (or the return)
    flagged_at: datetime  # event time of the reading or movement that flagged it
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def flag_id(self) -> str:
        text = f"{self.reason}|{self.excursion_id}|{self.din}|{self.product_code}"
        return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(slots=True)
class Effects:
    """What one step changed: excursions to persist, newly confirmed ones, units flagged."""

    excursions: dict[str, Excursion] = field(default_factory=dict)
    confirmed: list[Excursion] = field(default_factory=list)
    flags: list[UnitFlag] = field(default_factory=list)
    withdrawn: list[UnitFlag] = field(default_factory=list)  # flags a late departure undid

    def merge(self, other: Effects) -> None:
        self.excursions.update(other.excursions)
        self.confirmed.extend(other.confirmed)
        self.flags.extend(other.flags)
        self.withdrawn.extend(other.withdrawn)


def conditions_at(
    monitor: Monitor,
    contents: Contents,
    moment: datetime,
    storage: StorageRules,
    rules: ColdChainRules,
) -> dict[str, tuple[Condition, set[str]]]:
    """The storage conditions in force at a moment -> the component types they protect.

    The units present decide; empty equipment is held to its kind's default rule; an open
    excursion keeps being followed until a reading ends it, whoever is in the equipment.
    """
    found: dict[str, tuple[Condition, set[str]]] = {}

    def add(component_type: str | None) -> None:
        condition = condition_for(component_type, storage)
        if condition is None or component_type is None:
            return
        found.setdefault(condition.key, (condition, set()))[1].add(component_type)

    present = contents.present_at(moment)
    for stay in present:
        add(effective_type(stay.component_type, monitor.equipment_kind, rules))
    if not present:
        add(rules.equipment_default_component.get(monitor.equipment_kind))
    for key, excursion in monitor.open.items():
        if key not in found:
            found[key] = (excursion.condition, set(excursion.component_types))
    return found


def _exposed(
    excursion: Excursion,
    contents: Contents,
    kind: str,
    storage: StorageRules,
    rules: ColdChainRules,
) -> list[Stay]:
    """Units not yet flagged whose stay overlaps the excursion and whose rule it breaks."""
    end = excursion.until
    out = []
    for stay in contents.stays.values():
        if stay.key in excursion.flagged:
            continue
        condition = condition_for(effective_type(stay.component_type, kind, rules), storage)
        if condition is None or condition.key != excursion.condition_key:
            continue
        if stay.overlaps(excursion.started_at, end):
            out.append(stay)
    return out


def _flag(excursion: Excursion, stays: list[Stay], at: datetime) -> list[UnitFlag]:
    flags = []
    for stay in stays:
        excursion.flagged.append(stay.key)
        excursion.changes += 1
        flags.append(
            _excursion_flag(
                excursion,
                stay,
                at,
                {
                    "range": excursion.condition.describe(),
                    "breaches": list(excursion.breaches),
                    "peak_c": excursion.peak_c,
                    "started_at": excursion.started_at.isoformat(),
                },
            )
        )
    return flags


def _excursion_flag(
    excursion: Excursion, stay: Stay, at: datetime, detail: dict[str, Any]
) -> UnitFlag:
    """A unit's quarantine recommendation for its stay in the excursion (raised or withdrawn)."""
    return UnitFlag(
        din=stay.din,
        product_code=stay.product_code,
        component_type=stay.component_type,
        reason="excursion",
        recommendation="quarantine",
        facility_id=excursion.facility_id,
        equipment_id=excursion.equipment_id,
        excursion_id=excursion.excursion_id,
        exposed_from=max(stay.entered_at, excursion.started_at),
        flagged_at=at,
        detail=detail,
    )


def _past_tolerance(excursion: Excursion, rules: ColdChainRules) -> bool:
    return excursion.duration > timedelta(minutes=rules.excursion_tolerance_minutes)


def apply_reading(
    monitor: Monitor,
    contents: Contents,
    reading: Reading,
    storage: StorageRules,
    rules: ColdChainRules,
) -> Effects:
    """Apply one temperature reading; mutates ``monitor``. A reading not newer than the last
    one applied is a replay or a late duplicate and changes nothing."""
    effects = Effects()
    if monitor.last_reading_at is not None and reading.at <= monitor.last_reading_at:
        return effects
    monitor.last_reading_at = reading.at
    monitor.interval_seconds = reading.interval_seconds
    monitor.equipment_kind = reading.equipment_kind
    monitor.facility_id = reading.facility_id
    kind = reading.equipment_kind
    for key, (condition, types) in conditions_at(
        monitor, contents, reading.at, storage, rules
    ).items():
        breaches = condition.breaches(reading.temperature_c, reading.agitating)
        excursion = monitor.open.get(key)
        if breaches:
            if excursion is None:
                excursion = Excursion(
                    excursion_id=excursion_id(monitor.equipment_id, key, reading.at),
                    equipment_id=monitor.equipment_id,
                    equipment_kind=kind,
                    facility_id=reading.facility_id,
                    condition_key=key,
                    component_types=sorted(types),
                    started_at=reading.at,
                    last_reading_at=reading.at,
                    peak_c=reading.temperature_c,
                    lowest_c=reading.temperature_c,
                    highest_c=reading.temperature_c,
                    readings_out=0,
                )
                monitor.open[key] = excursion
            _extend(excursion, condition, reading, breaches, types)
        elif excursion is not None:
            excursion.ended_at = reading.at
            del monitor.open[key]
        else:
            continue
        if not excursion.confirmed and _past_tolerance(excursion, rules):
            excursion.confirmed_at = reading.at
            effects.confirmed.append(excursion)
        if excursion.confirmed:
            stays = _exposed(excursion, contents, kind, storage, rules)
            effects.flags.extend(_flag(excursion, stays, reading.at))
            if excursion.ended_at is not None:
                monitor.ended.append(excursion)
        effects.excursions[excursion.excursion_id] = excursion
    return effects


def _extend(
    excursion: Excursion,
    condition: Condition,
    reading: Reading,
    breaches: list[Breach],
    types: set[str],
) -> None:
    t = reading.temperature_c
    excursion.last_reading_at = reading.at
    excursion.readings_out += 1
    excursion.lowest_c = min(excursion.lowest_c, t)
    excursion.highest_c = max(excursion.highest_c, t)
    if condition.deviation(t) > condition.deviation(excursion.peak_c):
        excursion.peak_c = t
    for breach in breaches:
        if breach not in excursion.breaches:
            excursion.breaches.append(breach)
    excursion.component_types = sorted(set(excursion.component_types) | types)


def forget(monitor: Monitor, contents: Contents, now: datetime, rules: ColdChainRules) -> None:
    """Drop units that left more than the retention before ``now`` (the readings' clock) and
    all but the latest confirmed ended excursions (call now and then, e.g. once per batch).

    Ended excursions are kept by number, not age: movements come from other partitions and,
    while a backlog is consumed, can lag the readings by days; a late one must still find
    the excursion its unit sat through.
    """
    contents.prune(now - timedelta(hours=rules.history_retention_hours))
    if len(monitor.ended) > rules.ended_excursions_kept:
        monitor.ended.sort(key=lambda e: e.until)
        del monitor.ended[: len(monitor.ended) - rules.ended_excursions_kept]


def apply_movement(monitor: Monitor, contents: Contents, movement: Movement) -> bool:
    """Apply a unit entering or leaving; mutates ``contents``; False if it changed nothing (a
    replay). Call ``reconcile`` once the batch's movements are in."""
    key = unit_key(movement.din, movement.product_code)
    stay = contents.stays.get(key)
    if movement.facility_id and not monitor.facility_id:
        monitor.facility_id = movement.facility_id
    if movement.kind == "leave":
        if stay is not None and stay.left_at is None and movement.at >= stay.entered_at:
            stay.left_at = movement.at
            return True
        return False
    if stay is not None and stay.entered_at == movement.at:
        learnt = movement.component_type or stay.component_type  # a type learnt late
        changed = learnt != stay.component_type
        stay.component_type = learnt
        return changed
    if stay is not None and (stay.left_at is None or movement.at < stay.left_at):
        return False  # already inside, or a replay of an earlier stay
    contents.stays[key] = Stay(
        movement.din, movement.product_code, movement.component_type, movement.at
    )
    return True


def reconcile(
    monitor: Monitor, contents: Contents, storage: StorageRules, rules: ColdChainRules
) -> Effects:
    """Match what the equipment held against its confirmed excursions, after movements.

    Movements come from other partitions and, while a backlog is consumed, can lag the
    readings by days: a stay learnt late that overlaps a confirmed excursion is flagged now,
    and a flag whose stay turns out not to overlap it (the unit had left before it began, or
    came in after it ended) is withdrawn. An open excursion counts up to its latest reading:
    a unit put in after that is flagged by the next reading if the excursion goes on.
    """
    effects = Effects()
    kind = monitor.equipment_kind
    for excursion in [*monitor.open.values(), *monitor.ended]:
        if not excursion.confirmed:
            continue
        for key in list(excursion.flagged):
            stay = contents.stays.get(key)
            if stay is None or stay.overlaps(excursion.started_at, excursion.until):
                continue
            left_first = stay.left_at is not None and stay.left_at <= excursion.started_at
            if left_first or excursion.ended_at is not None:
                effects.withdrawn.append(_withdrawal(excursion, stay))
        stays = _exposed(excursion, contents, kind, storage, rules)
        if stays:
            effects.flags.extend(_flag(excursion, stays, excursion.until))
        if stays or any(f.excursion_id == excursion.excursion_id for f in effects.withdrawn):
            effects.excursions[excursion.excursion_id] = excursion
    return effects


def _withdrawal(excursion: Excursion, stay: Stay) -> UnitFlag:
    excursion.flagged.remove(stay.key)
    excursion.changes += 1
    return _excursion_flag(
        excursion,
        stay,
        excursion.until,
        {"withdrawn": True, "entered_at": _iso(stay.entered_at), "left_at": _iso(stay.left_at)},
    )


def silent_since(monitor: Monitor, reference: datetime, rules: ColdChainRules) -> bool:
    """True when the sensor has said nothing for longer than its interval allows."""
    if monitor.last_reading_at is None:
        return False
    allowed = timedelta(seconds=monitor.interval_seconds * rules.sensor_silence_factor)
    return reference - monitor.last_reading_at > allowed


def return_flag(
    din: str,
    product_code: str,
    minutes_out: float,
    facility_id: str,
    at: datetime,
    event_id: str,
    rules: ColdChainRules,
) -> UnitFlag | None:
    """A unit returned after too long out of refrigeration: flagged for discard."""
    if minutes_out <= rules.return_max_minutes_out:
        return None
    return UnitFlag(
        din=din,
        product_code=product_code,
        component_type=None,
        reason="returned_out_of_refrigeration",
        recommendation="discard",
        facility_id=facility_id,
        equipment_id="",
        excursion_id=event_id,  # the return event: one flag per return
        exposed_from=at - timedelta(minutes=minutes_out),
        flagged_at=at,
        detail={"minutes_out": minutes_out, "limit_minutes": rules.return_max_minutes_out},
    )


# ---- where each unit is: the unit side, keyed by DIN ---------------------------------------
@dataclass(slots=True)
class Place:
    equipment_id: str
    entered_at: datetime
    facility_id: str


@dataclass(slots=True)
class UnitPlaces:
    """One donation's components: their types and the equipment each is stored in."""

    din: str
    types: dict[str, str] = field(default_factory=dict)  # product code -> component type
    places: dict[str, Place] = field(default_factory=dict)  # product code ('' = all) -> place

    def type_of(self, product_code: str) -> str | None:
        """The component type stored under a product code ('' = the donation: its only
        component if it has one). None: unknown, held to the equipment's default rule (for a
        donation not yet processed that is whole blood's own 2–6 °C in a fridge)."""
        if product_code:
            return self.types.get(product_code)
        if len(self.types) == 1:
            return next(iter(self.types.values()))
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "types": self.types,
            "places": {
                p: [pl.equipment_id, pl.entered_at.isoformat(), pl.facility_id]
                for p, pl in self.places.items()
            },
        }

    @classmethod
    def from_dict(cls, din: str, data: dict[str, Any] | None) -> UnitPlaces:
        if not data:
            return cls(din)
        places = {
            p: Place(eq, datetime.fromisoformat(at), facility)
            for p, (eq, at, facility) in data.get("places", {}).items()
        }
        return cls(din, dict(data.get("types", {})), places)


# Unit events that take a unit out of whatever equipment holds it.
LEAVING_TYPES = frozenset({"unit.shipped", "unit.issued", "unit.discarded", "unit.transfused"})
UNIT_TYPES = frozenset({"component.produced", "unit.stored"}) | LEAVING_TYPES


def apply_unit_event(
    unit: UnitPlaces,
    event_type: str,
    at: datetime,
    facility_id: str,
    product_code: str,
    equipment_id: str = "",
    component_type: str = "",
) -> list[Movement]:
    """Apply one unit event; mutates ``unit``; returns the equipment movements it implies."""
    out: list[Movement] = []
    if event_type == "component.produced":
        unit.types[product_code] = component_type
        place = unit.places.get(product_code)
        if place is not None:  # stored before its production was known: tell the equipment
            out.append(_move("enter", unit, product_code, place))
    elif event_type == "unit.stored":
        place = unit.places.get(product_code)
        if place is not None and at < place.entered_at:
            # A stay older than the one known: record it as an ended stay only.
            if place.equipment_id != equipment_id:
                past = Place(equipment_id, at, facility_id)
                out.append(_move("enter", unit, product_code, past))
                out.append(_move("leave", unit, product_code, past, at=place.entered_at))
            return out
        if place is not None and place.equipment_id == equipment_id:
            # Already there (a replay, or scanned again): say so again, which is harmless and
            # repairs a movement lost to a crash between the forward and the table write.
            out.append(_move("enter", unit, product_code, place))
            return out
        if place is not None:
            out.append(_move("leave", unit, product_code, place, at=at))
        unit.places[product_code] = Place(equipment_id, at, facility_id)
        out.append(_move("enter", unit, product_code, unit.places[product_code]))
    elif event_type in LEAVING_TYPES:
        keys = [product_code] if product_code in unit.places else []
        if not product_code:
            keys = list(unit.places)
        elif not keys and "" in unit.places:
            keys = [""]
        for key in keys:
            place = unit.places[key]
            if at >= place.entered_at:
                out.append(_move("leave", unit, key, place, at=at))
                del unit.places[key]
    return out


def _move(
    kind: Literal["enter", "leave"],
    unit: UnitPlaces,
    product_code: str,
    place: Place,
    *,
    at: datetime | None = None,
) -> Movement:
    return Movement(
        kind=kind,
        equipment_id=place.equipment_id,
        din=unit.din,
        product_code=product_code,
        component_type=unit.type_of(product_code),
        at=at or place.entered_at,
        facility_id=place.facility_id,
    )
