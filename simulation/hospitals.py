"""From the station's shelves to the patient: daily orders, shipments, crossmatch, issue,
transfusion, returns, reactions, and the morning checks that discard expired, damaged or
cold-chain-breached units.

A local day is one timeline, in time order, over every facility of a station's region, so the
station's stock is shared fairly between hospitals and no unit is used before it arrives.
Clinical use is exogenous: it grows faster than collection (CityConfig), and what the shelves
cannot meet is counted as unmet, not invented.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial

from simulation import calendar as cal
from simulation.clock import DAY, HOUR, MINUTE, day_start, iso
from simulation.coldchain import Breach, ColdChain
from simulation.collection import poisson
from simulation.config import CityConfig
from simulation.emitter import Emitter
from simulation.people import GROUP_WEIGHTS, GROUPS, Recipients
from simulation.reference import Hospital, Region
from simulation.stock import (
    COMPONENT_TYPES,
    EQUIPMENT_FOR,
    PREFERENCES,
    TRANSPORT_CLASS,
    Stock,
    Unit,
)

# (ward, indication) a person reads on the transfusion record, by component.
WARDS: dict[str, tuple[tuple[str, str], ...]] = {
    "red_cells": (
        ("普外科", "术中失血"),
        ("骨科", "创伤失血"),
        ("消化内科", "消化道出血"),
        ("血液科", "重度贫血（Hb<60 g/L）"),
        ("妇产科", "产后出血"),
        ("重症医学科", "失血性休克"),
        ("肿瘤科", "化疗后贫血"),
        ("心胸外科", "心脏手术"),
    ),
    "plasma": (
        ("普外科", "凝血功能障碍"),
        ("重症医学科", "大量输血"),
        ("消化内科", "肝病凝血因子缺乏"),
        ("心胸外科", "体外循环手术"),
        ("急诊科", "创伤大出血"),
    ),
    "cryoprecipitate": (
        ("妇产科", "产后出血（低纤维蛋白原）"),
        ("重症医学科", "弥散性血管内凝血"),
        ("心胸外科", "纤维蛋白原缺乏"),
    ),
    "platelets": (
        ("血液科", "血小板减少症"),
        ("肿瘤科", "化疗后骨髓抑制"),
        ("重症医学科", "血小板减少伴出血"),
    ),
}
# Bags per transfusion episode (assumed).
BAGS: dict[str, tuple[tuple[int, ...], tuple[float, ...]]] = {
    "red_cells": ((1, 2, 3), (0.55, 0.38, 0.07)),
    "plasma": ((1, 2, 3, 4), (0.3, 0.4, 0.2, 0.1)),
    "cryoprecipitate": ((4, 6, 8, 10), (0.3, 0.35, 0.2, 0.15)),
    "platelets": ((1, 2), (0.9, 0.1)),
}
MEAN_BAGS = {c: sum(n * w for n, w in zip(*BAGS[c], strict=True)) for c in BAGS}
# Shelf life a unit must have left to be shipped on a routine order / to an emergency.
_ROUTINE_LEFT = {
    "red_cells": 7 * DAY,
    "plasma": 30 * DAY,
    "cryoprecipitate": 30 * DAY,
    "platelets": 12 * HOUR,
}
_URGENT_LEFT = {"red_cells": DAY, "plasma": DAY, "cryoprecipitate": DAY, "platelets": 6 * HOUR}
# (assumed) a compatible red cell expiring this much sooner than the patient's own group's is
# used first (blood banks rotate short-dated O-, B-, A- units to Rh-positive patients).
_SUBSTITUTE_SLACK = 5 * DAY
_PLATELET_SLACK = DAY  # (assumed) the same for platelets, on their five-day shelf life
_WEEKDAY_DEMAND = (1.1, 1.1, 1.1, 1.1, 1.1, 0.8, 0.7)  # elective surgery on weekdays; mean 1
_REACTION_SEVERITY = (("non_severe", 0.92), ("severe", 0.07), ("life_threatening", 0.01))


@dataclass
class HospitalState:
    hospital: Hospital
    weight: float
    transit: tuple[int, int]  # seconds from the station, fastest and slowest
    equipment: dict[str, str]  # kind -> equipment id
    stock: Stock = field(default_factory=Stock)
    shipments: int = 0

    @property
    def facility_id(self) -> str:
        return self.hospital.facility_id


class Distribution:
    def __init__(
        self,
        cfg: CityConfig,
        region: Region,
        station_stock: Stock,
        cold: ColdChain,
        recipients: Recipients,
        rng: random.Random,
        emitter: Emitter,
        start: date,
    ) -> None:
        self.cfg = cfg
        self.region = region
        self.station_id = region.station_id
        self.station_stock = station_stock
        self.cold = cold
        self.recipients = recipients
        self.rng = rng
        self.emitter = emitter
        self.start = start
        self.base_demand: dict[str, float] = {
            c: 0.0 for c in COMPONENT_TYPES
        }  # bags/day, set later
        self.unmet: dict[str, int] = defaultdict(int)
        # Clinical demand, met or not: (month "YYYY-MM", component) -> bags.
        self.requested: dict[tuple[str, str], int] = defaultdict(int)
        self.blocks: dict[str, tuple[int, int]] = {}
        self.hospitals = self._hospitals(region)
        # Platelet transfusions are booked a day or two ahead (haematology, chemotherapy): the
        # station collects platelets to these bookings, not to a forecast, so few expire.
        self._booking_rng = random.Random(rng.getrandbits(64))
        self._booked: dict[tuple[str, date], list[tuple[str, int]]] = {}

    def _hospitals(self, region: Region) -> list[HospitalState]:
        population = {c.code: c.population for c in region.counties}
        order = [c.code for c in region.counties]
        raw = {
            h.facility_id: (3.0 if h.tertiary else 1.0) * population.get(h.county_code, 1)
            for h in region.hospitals
        }
        total = sum(raw.values()) or 1.0
        states = []
        for h in region.hospitals:
            if h.county_code == region.central_county:
                transit = (20 * MINUTE, 40 * MINUTE)
            else:
                far = 50 + 20 * (order.index(h.county_code) if h.county_code in order else 3)
                transit = ((far - 15) * MINUTE, (far + 15) * MINUTE)
            equipment = {}
            for kind in ("fridge", "freezer", "platelet_agitator"):
                found = region.equipment_of(h.facility_id, kind)
                if found:
                    equipment[kind] = found[0].equipment_id
            states.append(HospitalState(h, raw[h.facility_id] / total, transit, equipment))
        return states

    # ---- demand ---------------------------------------------------------------------------
    def demand(
        self, h: HospitalState, ctype: str, day: date, day_no: int, *, routine: bool = False
    ) -> float:
        """Expected bags a day. ``routine``: the level a blood bank plans its shelf for."""
        cfg = self.cfg
        if EQUIPMENT_FOR[ctype] not in h.equipment:
            return 0.0  # no agitator, no platelets kept (patients are referred)
        growth = cal.growth(cfg.demand_growth_per_year, day, self.start)
        mean = self.base_demand[ctype] * h.weight * growth
        if routine:
            return mean
        ramp = 1.0 if cfg.warmup_days <= 0 else min(1.0, 0.4 + 0.6 * day_no / cfg.warmup_days)
        return mean * _WEEKDAY_DEMAND[day.weekday()] * cal.festival_demand_factor(day, cfg) * ramp

    def station_days(self, ctype: str, day: date, group: str | None = None) -> float:
        """Days of expected use the station holds (including units still in the lab), of one
        group or of all."""
        daily = sum(self.demand(h, ctype, day, 0, routine=True) for h in self.hospitals)
        usable_after = day_start(day) + DAY
        if group is None:
            held = self.station_stock.total(ctype, usable_after)
        else:
            daily *= GROUP_WEIGHTS[GROUPS.index(group)]
            held = self.station_stock.count(ctype, group, usable_after)
        return held / daily if daily > 0 else float("inf")

    # ---- the day ------------------------------------------------------------------------
    def run_day(self, day: date, day_no: int, breaches: list[Breach]) -> None:
        rng = self.rng
        base = day_start(day)
        self.blocks = {b.equipment_id: (b.started, b.found) for b in breaches}
        items: list[tuple[int, int, Callable[[], None]]] = []

        def at(t: int, action: Callable[[], None]) -> None:
            items.append((t, len(items), action))

        facilities = {self.station_id: self.station_stock} | {
            h.facility_id: h.stock for h in self.hospitals
        }
        for b in breaches:
            stock = facilities.get(b.facility_id)
            if stock is not None:
                at(b.found, partial(self._breach, b, stock))
        t_station = base + 7 * HOUR + 30 * MINUTE
        at(t_station, partial(self._inspect, self.station_id, self.station_stock, t_station))
        for h in self.hospitals:
            t_check = base + 7 * HOUR + rng.randint(0, 20) * MINUTE
            at(t_check, partial(self._inspect, h.facility_id, h.stock, t_check))
            t_order = base + 8 * HOUR + rng.randint(0, 40) * MINUTE
            at(t_order, partial(self._routine_order, h, day, t_order))
            for ctype in COMPONENT_TYPES:
                if ctype == "platelets":
                    for group, bags in self.booked(h, day):
                        t = base + int(rng.uniform(8, 18) * HOUR)
                        at(t, partial(self._episode, h, ctype, t, day, group, bags))
                    continue
                episodes = poisson(rng, self.demand(h, ctype, day, day_no) / MEAN_BAGS[ctype])
                for _ in range(episodes):
                    if rng.random() < 0.7:
                        t = base + int(rng.uniform(8, 18) * HOUR)
                    else:
                        t = base + int(rng.uniform(0, 24) * HOUR)
                    at(t, partial(self._episode, h, ctype, t, day))
        items.sort(key=lambda item: (item[0], item[1]))
        for _, _, action in items:
            action()

    def booked(self, h: HospitalState, day: date) -> list[tuple[str, int]]:
        """The platelet transfusions (patient's group, bags) booked at ``h`` for ``day``."""
        key = (h.facility_id, day)
        found = self._booked.get(key)
        if found is None:
            rng = self._booking_rng
            mean = (
                self.demand(h, "platelets", day, (day - self.start).days) / MEAN_BAGS["platelets"]
            )
            found = [
                (rng.choices(GROUPS, GROUP_WEIGHTS)[0], rng.choices(*BAGS["platelets"])[0])
                for _ in range(poisson(rng, mean))
            ]
            self._booked[key] = found
            self._booked.pop((h.facility_id, day - timedelta(days=7)), None)
        return found

    def booked_bags(self, day: date, group: str) -> int:
        """Platelet bags of ``group`` booked across the hospitals for ``day``."""
        return sum(b for h in self.hospitals for g, b in self.booked(h, day) if g == group)

    def _blocked(self, unit: Unit, t: int) -> bool:
        window = self.blocks.get(unit.equipment)
        return window is not None and window[0] <= t < window[1]

    # ---- checks -------------------------------------------------------------------------
    def _inspect(self, facility: str, stock: Stock, t: int) -> None:
        rng, emit = self.rng, self.emitter.emit
        for unit in stock.expired(t):
            when = max(t, unit.expires_at) + rng.randint(1, 15) * MINUTE
            emit(when, "unit.discarded", facility, _discard(unit, "expired", "过期"))
        for unit in stock.found_defective(t):
            assert unit.defect is not None
            emit(
                t + rng.randint(1, 30) * MINUTE,
                "unit.discarded",
                facility,
                _discard(unit, unit.defect[1], "溶血"),
            )

    def _breach(self, b: Breach, stock: Stock) -> None:
        rng, emit = self.rng, self.emitter.emit
        note = f"{b.equipment_id} 温度超出范围约 {b.minutes:.0f} 分钟"
        for unit in stock.in_equipment(b.equipment_id, stored_by=b.ended):
            emit(
                b.found + rng.randint(5, 40) * MINUTE,
                "unit.discarded",
                b.facility_id,
                _discard(unit, "cold_chain_breach", note),
            )

    # ---- orders and shipments ---------------------------------------------------------
    def _routine_order(self, h: HospitalState, day: date, t: int) -> None:
        rng, cfg = self.rng, self.cfg
        leaves = t + rng.randint(30, 90) * MINUTE
        picked: list[Unit] = []
        for ctype in COMPONENT_TYPES:
            daily = self.demand(h, ctype, day, 0, routine=True)
            if daily <= 0:
                continue
            for group, share in zip(GROUPS, GROUP_WEIGHTS, strict=True):
                target = round(cfg.cover_days[ctype] * daily * share)
                need = target - h.stock.count(ctype, group, usable_after=leaves + DAY)
                for _ in range(need):
                    unit = self.station_stock.take(
                        ctype, group, leaves, _ROUTINE_LEFT[ctype], self._blocked
                    )
                    if unit is None:
                        break
                    picked.append(unit)
        self._ship(h, picked, leaves, store=True)

    def _ship(self, h: HospitalState, units: list[Unit], leaves: int, *, store: bool) -> int:
        """Send units in one box per transport class; returns the (latest) arrival time."""
        rng, emit = self.rng, self.emitter.emit
        by_class: dict[str, list[Unit]] = defaultdict(list)
        for unit in units:
            by_class[TRANSPORT_CLASS[unit.ctype]].append(unit)
        latest = leaves
        for transport_class, batch in by_class.items():
            h.shipments += 1
            arrives = leaves + rng.randint(*h.transit)
            box, temperature = self.cold.trip(transport_class, leaves, arrives)
            shipment = f"SHP-{iso(leaves)[2:10].replace('-', '')}-{h.facility_id}-{h.shipments:04d}"
            if box:
                shipment += f"-{box.rsplit('-', 1)[-1]}"
            stored = arrives + rng.randint(5, 15) * MINUTE
            for unit in batch:
                emit(
                    leaves,
                    "unit.shipped",
                    self.station_id,
                    {
                        "din": unit.din,
                        "product_code": unit.code,
                        "shipment_id": shipment,
                        "to_facility_id": h.facility_id,
                    },
                )
                emit(
                    arrives,
                    "unit.received",
                    h.facility_id,
                    {
                        "din": unit.din,
                        "product_code": unit.code,
                        "shipment_id": shipment,
                        "from_facility_id": self.station_id,
                        "temperature_c": temperature,
                    },
                )
                if store:
                    self._store(h, unit, stored)
            latest = max(latest, arrives)
        return latest

    def _store(self, h: HospitalState, unit: Unit, t: int) -> None:
        equipment = h.equipment[EQUIPMENT_FOR[unit.ctype]]
        h.stock.add(unit, t, equipment)
        self.emitter.emit(
            t,
            "unit.stored",
            h.facility_id,
            {
                "din": unit.din,
                "product_code": unit.code,
                "location_id": f"{h.facility_id}-BB",
                "equipment_id": equipment,
            },
        )

    # ---- patients ------------------------------------------------------------------------
    def _episode(
        self,
        h: HospitalState,
        ctype: str,
        t: int,
        day: date,
        booked_group: str | None = None,
        booked_bags: int | None = None,
    ) -> None:
        """A patient needs ``bags`` units: the hospital's own shelf of the patient's group, else
        an emergency order of that group; only then compatible groups (O red cells, AB plasma),
        so the universal groups are not drained by everyday use."""
        rng = self.rng
        group = booked_group or rng.choices(GROUPS, GROUP_WEIGHTS)[0]
        bags = booked_bags or rng.choices(*BAGS[ctype])[0]
        self.requested[(f"{day:%Y-%m}", ctype)] += bags
        recipient = self.recipients.pick(h.facility_id, group, day)
        ward, indication = WARDS[ctype][rng.randrange(len(WARDS[ctype]))]
        leaves = t + rng.randint(10, 25) * MINUTE
        own_left, urgent_left = 2 * HOUR, _URGENT_LEFT[ctype]
        others = PREFERENCES[(ctype, group)][1:]
        local: list[Unit] = []
        urgent: list[Unit] = []
        for _ in range(bags):
            if ctype == "red_cells":
                # A short-dated compatible bag (often Rh-negative) goes first, not to waste.
                unit = h.stock.take_soonest(
                    ctype,
                    PREFERENCES[(ctype, group)],
                    t,
                    own_left,
                    self._blocked,
                    identical_slack=_SUBSTITUTE_SLACK,
                )
            else:
                unit = h.stock.take(ctype, group, t, own_left, self._blocked)
            if unit is not None:
                local.append(unit)
                continue
            if ctype == "platelets":
                # Platelets keep five days: the station sends a compatible bag about to expire
                # (one collected for a booking another bag met, often of a rare group) first.
                unit = self.station_stock.take_soonest(
                    ctype,
                    PREFERENCES[(ctype, group)],
                    leaves,
                    urgent_left,
                    self._blocked,
                    identical_slack=_PLATELET_SLACK,
                )
            else:
                unit = self.station_stock.take(ctype, group, leaves, urgent_left, self._blocked)
            if unit is not None:
                urgent.append(unit)
                continue
            unit = self._from_shelf(h.stock, ctype, others, t, own_left)
            if unit is not None:
                local.append(unit)
                continue
            unit = self._from_shelf(self.station_stock, ctype, others, leaves, urgent_left)
            if unit is not None:
                urgent.append(unit)
                continue
            self.unmet[ctype] += 1
        for unit in local:
            self._use(h, unit, t, recipient, group, ward, indication, crossmatch_may_fail=True)
        if urgent:
            # Emergency order: the station sends it by the next car.
            arrives = self._ship(h, urgent, leaves, store=False)
            for unit in urgent:
                self._use(
                    h,
                    unit,
                    arrives + rng.randint(5, 15) * MINUTE,
                    recipient,
                    group,
                    ward,
                    indication,
                    crossmatch_may_fail=False,
                )

    def _from_shelf(
        self, stock: Stock, ctype: str, groups: tuple[str, ...], t: int, left: int
    ) -> Unit | None:
        for group in groups:
            unit = stock.take(ctype, group, t, left, self._blocked)
            if unit is not None:
                return unit
        return None

    def _use(
        self,
        h: HospitalState,
        unit: Unit,
        t: int,
        recipient: str,
        recipient_group: str,
        ward: str,
        indication: str,
        *,
        crossmatch_may_fail: bool,
    ) -> None:
        rng, cfg, emit, fid = self.rng, self.cfg, self.emitter.emit, h.facility_id
        ref = {"din": unit.din, "product_code": unit.code}
        if unit.ctype == "red_cells":
            t += rng.randint(10, 40) * MINUTE
            if crossmatch_may_fail and rng.random() < cfg.crossmatch_incompatible_rate:
                # Antibodies the group does not predict: this bag stays; another is tried.
                emit(
                    t,
                    "crossmatch.performed",
                    fid,
                    {
                        **ref,
                        "recipient_id": recipient,
                        "recipient_abo_rh": recipient_group,
                        "compatible": False,
                    },
                )
                other = self._from_shelf(
                    h.stock, unit.ctype, PREFERENCES[(unit.ctype, recipient_group)], t, 2 * HOUR
                )
                h.stock.put_back(unit)
                if other is None:
                    self.unmet[unit.ctype] += 1
                    return
                unit, t = other, t + rng.randint(10, 30) * MINUTE
                ref = {"din": unit.din, "product_code": unit.code}
            emit(
                t,
                "crossmatch.performed",
                fid,
                {
                    **ref,
                    "recipient_id": recipient,
                    "recipient_abo_rh": recipient_group,
                    "compatible": True,
                },
            )
            issued = t + rng.randint(5, 20) * MINUTE
        else:
            issued = t + rng.randint(10, 30) * MINUTE
        emit(issued, "unit.issued", fid, {**ref, "recipient_id": recipient, "ward": ward})
        if rng.random() < cfg.return_rate:
            limit = cfg.cold_chain_rules.return_max_minutes_out
            late = unit.ctype != "platelets" and rng.random() < cfg.return_out_of_control_share
            minutes = round(
                rng.uniform(limit + 1, limit * 6) if late else rng.uniform(5, limit - 1), 1
            )
            back = issued + int(minutes * MINUTE)
            emit(back, "unit.returned", fid, {**ref, "minutes_out_of_refrigeration": minutes})
            if late:
                emit(
                    back + rng.randint(5, 30) * MINUTE,
                    "unit.discarded",
                    fid,
                    _discard(unit, "returned_out_of_control", f"离开冷藏 {minutes:.0f} 分钟后退回"),
                )
            else:
                self._store(h, unit, back + rng.randint(2, 10) * MINUTE)
            return
        transfused = issued + rng.randint(5, 25) * MINUTE
        emit(
            transfused,
            "unit.transfused",
            fid,
            {
                **ref,
                "recipient_id": recipient,
                "recipient_abo_rh": recipient_group,
                "ward": ward,
                "indication": indication,
            },
        )
        if rng.random() < cfg.reaction_rate:
            categories = list(cfg.reaction_categories)
            category = rng.choices(categories, [cfg.reaction_categories[c] for c in categories])[0]
            severity = rng.choices(
                [s for s, _ in _REACTION_SEVERITY], [w for _, w in _REACTION_SEVERITY]
            )[0]
            emit(
                transfused + rng.randint(15 * MINUTE, 24 * HOUR),
                "transfusion.reaction_reported",
                fid,
                {**ref, "recipient_id": recipient, "category": category, "severity": severity},
            )


def _discard(unit: Unit, cause: str, note: str) -> dict[str, object]:
    return {
        "din": unit.din,
        "product_code": unit.code,
        "cause": cause,
        "volume_ml": unit.volume,
        "note": note,
    }
