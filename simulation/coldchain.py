"""Temperature loggers: readings per equipment at its interval, excursions, agitator stops and
transport boxes in transit.

Excursions come in two kinds. A short one is a single reading out of range (a door left open)
or an agitator caught stopped once: within the tolerance (models.rules.ColdChainRules) however
it is measured, so only loggers reporting at least that often show them. A long one
(a compressor failing overnight) stays out of range for several readings, well past the
tolerance; staff find it in the morning and discard what was inside (the caller does that).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from simulation.clock import DAY, HOUR, MINUTE, day_start
from simulation.config import CityConfig
from simulation.emitter import Emitter
from simulation.reference import Equipment

_COMPONENT_FOR_KIND = {"fridge": "red_cells", "freezer": "plasma", "platelet_agitator": "platelets"}
# Transport classes: what a box carries decides its temperature (WS 399: red cells travel 2-10 °C).
_BOX = {
    "cold": (5.5, 1.0, 2.5, 9.5),
    "frozen": (-28.0, 2.0, -35.0, -21.0),
    "room": (22.0, 0.5, 20.5, 23.5),
}


@dataclass(frozen=True)
class Breach:
    """A long excursion: readings out of range from ``started`` to ``ended``; found at ``found``."""

    equipment_id: str
    facility_id: str
    started: int
    ended: int
    found: int
    minutes: float


class ColdChain:
    def __init__(
        self,
        cfg: CityConfig,
        equipment: list[Equipment],
        station_id: str,
        rng: random.Random,
        emitter: Emitter,
    ) -> None:
        self.cfg = cfg
        self.rng = rng
        self.emitter = emitter
        self.station_id = station_id
        self.fixed = [e for e in equipment if e.kind in _COMPONENT_FOR_KIND]
        self.boxes = [e for e in equipment if e.kind == "transport_box"]
        self.box_free_at = {b.equipment_id: 0 for b in self.boxes}
        rules = cfg.storage_rules.components
        self.ranges = {
            kind: (rules[c].min_c, rules[c].max_c) for kind, c in _COMPONENT_FOR_KIND.items()
        }
        self.tolerance_s = cfg.cold_chain_rules.excursion_tolerance_minutes * MINUTE

    def _normal(self, kind: str) -> float:
        low, high = self.ranges[kind]
        gauss = self.rng.gauss
        if low is None:  # freezers: at or below the maximum only
            assert high is not None
            return round(min(high - 2.0, gauss(high - 7.0, 1.2)), 1)
        assert high is not None
        mid, half = (low + high) / 2, (high - low) / 2
        return round(min(high - 0.4, max(low + 0.4, gauss(mid, half * 0.2))), 1)

    def _out(self, kind: str, long: bool) -> float:
        high = self.ranges[kind][1]
        assert high is not None
        uniform = self.rng.uniform
        if kind == "freezer":
            return round(high + (uniform(5, 12) if long else uniform(0.5, 3.0)), 1)
        return round(high + (uniform(2.5, 6.0) if long else uniform(0.2, 1.0)), 1)

    def day(self, day: date) -> list[Breach]:
        """Emit the day's readings of every fixed piece of equipment; return the long excursions."""
        rng, cfg, emit = self.rng, self.cfg, self.emitter.emit
        start = day_start(day)
        breaches = []
        # History years (before cfg.readings_from) keep their excursions and what they discard,
        # but only one reading a day (declared at a day's interval), and every reading of a
        # day with a long excursion: years load quickly.
        every_reading = cfg.readings_from is None or day >= cfg.readings_from
        for eq in self.fixed:
            breached = False
            interval = eq.interval_seconds
            first = -(-start // interval) * interval  # first grid point in the day
            slots = list(range(first, start + DAY, interval))
            out: dict[int, float] = {}
            stopped: set[int] = set()
            per_year = (
                cfg.station_long_excursions_per_equipment_year
                if eq.facility_id == self.station_id
                else cfg.long_excursions_per_equipment_year
            )
            if rng.random() < per_year / 365.0:
                # Needs more than the tolerance between its first and last reading.
                n = max(3, int(self.tolerance_s // interval) + 2) + rng.randint(0, 2)
                night = [
                    i
                    for i, t in enumerate(slots)
                    if 30 * MINUTE <= t - start <= 2 * HOUR + 30 * MINUTE
                ]
                if night:
                    k = night[rng.randrange(len(night))]
                    span = slots[k : k + n]
                    for t in span:
                        out[t] = self._out(eq.kind, True)
                    found = span[-1] + rng.randint(20 * MINUTE, 50 * MINUTE)
                    breached = True
                    breaches.append(
                        Breach(
                            eq.equipment_id,
                            eq.facility_id,
                            span[0],
                            span[-1],
                            found,
                            (span[-1] - span[0] + interval) / 60,
                        )
                    )
            if (
                interval <= self.tolerance_s
                and rng.random() < cfg.short_excursions_per_equipment_day
            ):
                # A door left open in the working day: one reading out of range.
                day_slots = [t for t in slots if 8 * HOUR <= t - start < 20 * HOUR and t not in out]
                if day_slots:
                    out[day_slots[rng.randrange(len(day_slots))]] = self._out(eq.kind, False)
            agitator = eq.kind == "platelet_agitator"
            if (
                agitator
                and interval <= self.tolerance_s
                and rng.random() < cfg.agitator_stops_per_day
            ):
                # A stop caught by one reading: shorter than the tolerance, like a door left open.
                stopped.add(slots[rng.randrange(len(slots))])
            for t in slots:
                temperature = out.get(t)
                payload: dict[str, object] = {
                    "equipment_id": eq.equipment_id,
                    "equipment_kind": eq.kind,
                    "temperature_c": self._normal(eq.kind) if temperature is None else temperature,
                    "interval_seconds": interval,
                }
                if agitator:
                    payload["agitating"] = t not in stopped
                if every_reading or breached:
                    emit(t, "storage.temperature_recorded", eq.facility_id, payload)
            if not (every_reading or breached) and slots:
                # A history day: one daily reading (a logger's daily summary, declared as such),
                # so the platform's clock for the equipment moves on and nothing is "silent".
                daily: dict[str, object] = {
                    "equipment_id": eq.equipment_id,
                    "equipment_kind": eq.kind,
                    "temperature_c": self._normal(eq.kind),
                    "interval_seconds": DAY,
                }
                if agitator:
                    daily["agitating"] = True
                emit(slots[0], "storage.temperature_recorded", eq.facility_id, daily)
        return breaches

    def trip(self, transport_class: str, leaves: int, arrives: int) -> tuple[str, float]:
        """Take a free box for a trip and log it in transit: (box id, arrival temperature)."""
        rng, emit = self.rng, self.emitter.emit
        mean, sd, low, high = _BOX[transport_class]
        free = next((b for b in self.boxes if self.box_free_at[b.equipment_id] <= leaves), None)
        if free is None:
            # Every logged box is out (equipment.csv lists too few): an unlogged cool box.
            return "", round(min(high, max(low, rng.gauss(mean, sd))), 1)
        self.box_free_at[free.equipment_id] = arrives + 30 * MINUTE
        temperature = mean
        t = leaves
        while t <= arrives:
            temperature = round(min(high, max(low, rng.gauss(mean, sd))), 1)
            emit(
                t,
                "storage.temperature_recorded",
                self.station_id,
                {
                    "equipment_id": free.equipment_id,
                    "equipment_kind": "transport_box",
                    "temperature_c": temperature,
                    "interval_seconds": free.interval_seconds,
                },
            )
            t += free.interval_seconds
        return free.equipment_id, temperature
