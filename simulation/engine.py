"""The simulation loop: a station's region day by day, events handed out in time order.

Before the first day the donors' history is simulated without events (``burn_in_days``), so
repeat donors are due from day one instead of the city starting with no one who ever gave.
Every random choice comes from a stream seeded by (seed, region, purpose): the same seed gives
the same events, and a shorter run is a prefix of a longer one.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta

from simulation.clock import HOUR, MINUTE, day_index, day_start
from simulation.coldchain import ColdChain
from simulation.collection import Collection, Visit
from simulation.config import CityConfig
from simulation.emitter import Emitter, Event
from simulation.hospitals import Distribution
from simulation.lab import Lab
from simulation.people import Recipients
from simulation.reference import Campaign, Region, build_regions, load_city
from simulation.stock import Stock


def _stream(seed: int, name: str) -> random.Random:
    return random.Random(f"bloodtrace-simulation:{seed}:{name}")


class RegionSimulation:
    """One blood station, its sites and the hospitals it supplies."""

    def __init__(
        self,
        cfg: CityConfig,
        region: Region,
        campaigns: list[Campaign],
        *,
        start: date,
        seed: int,
        index: int,
        key: bytes,
        emitter: Emitter,
        donor_numbers: Iterator[int],
        recipients: Recipients,
    ) -> None:
        self.cfg = cfg
        self.region = region
        self.key = key
        self.emitter = emitter
        self.rng = _stream(seed, f"{index}:donors")
        self.stock = Stock()
        station = region.station_id
        self.cold = ColdChain(
            cfg, region.equipment, station, _stream(seed, f"{index}:cold"), emitter
        )
        kinds = ("fridge", "freezer", "platelet_agitator")
        station_equipment = {
            k: [e.equipment_id for e in region.equipment_of(station, k)] for k in kinds
        }
        missing = [k for k, ids in station_equipment.items() if not ids]
        if missing:
            raise ValueError(f"station {station} has no {', '.join(missing)} in equipment.csv")
        self.lab = Lab(
            cfg,
            station,
            region.din_facility,
            self.stock,
            station_equipment,
            _stream(seed, f"{index}:lab"),
            emitter,
            key,
        )
        self.collection = Collection(cfg, region, campaigns, self.rng, start, donor_numbers)
        self.distribution = Distribution(
            cfg,
            region,
            self.stock,
            self.cold,
            recipients,
            _stream(seed, f"{index}:hospitals"),
            emitter,
            start,
        )
        self.start = start

    # ---- before the first day: donors' history, no events -------------------------------
    def burn_in(self) -> None:
        cfg = self.cfg
        infectious = 1 - math.prod(1 - r for m, r in cfg.marker_rates.items() if m != "ALT")
        infectious = 1 - (1 - infectious) * (1 - cfg.nat_reactive_rate)
        self._set_demand()
        self.collection.platelets.daily = lambda day: sum(
            self.distribution.demand(h, "platelets", day, 0, routine=True)
            for h in self.distribution.hospitals
        )
        for offset in range(cfg.burn_in_days, 0, -1):
            day = self.start - timedelta(days=offset)
            for visit in self.collection.visits(day):
                donor = visit.donor
                deferral = self.collection.deferral(day)
                if deferral is not None:
                    donor.deferred_until = deferral[1]
                    self.collection.schedule_return(donor, day, visit.site.kind)
                    continue
                donation = self.collection.donation_for(visit, day)
                self.collection.record(donation, day)
                roll = self.rng.random()
                if roll < infectious:
                    donor.retired = True
                elif roll < infectious + cfg.marker_rates.get("ALT", 0.0):
                    donor.deferred_until = day + timedelta(days=180)
                self.collection.schedule_return(donor, day, visit.site.kind)
        self.collection.red_cell_days = lambda day: self.distribution.station_days("red_cells", day)
        self.collection.platelets.booked = self.distribution.booked_bags
        self.collection.platelets.held = lambda day, group: self.stock.count(
            "platelets", group, day_start(day) + 36 * HOUR
        )

    def _set_demand(self) -> None:
        """Clinical use in the start year: a share of what collection is expected to yield."""
        cfg, col = self.cfg, self.collection
        drive = cfg.group_drive_days_per_week / 5.0
        total = 0.0
        for i in range(365):
            day = self.start + timedelta(days=i)
            for site in self.region.sites:
                total += col.expected(site, day) * (drive if site.kind == "group_drive" else 1.0)
        per_day = total / 365
        # Platelets are collected to order: the visits they take are not whole blood.
        platelets = cfg.platelet_units_per_donation * per_day
        whole = per_day - platelets / (1 + cfg.apheresis_two_unit_share)
        rates = cfg.discard_rates
        tested_clean = (1 - rates.get("under_volume", 0.0)) * math.prod(
            1 - r for r in cfg.marker_rates.values()
        )
        tested_clean *= 1 - cfg.nat_reactive_rate
        big_bags = sum(
            share * sum(w for ml, w in cfg.whole_blood_volume_shares[sex].items() if ml >= 300)
            for sex, share in (("M", cfg.male_share), ("F", 1 - cfg.male_share))
        )
        plasma_passed = (1 - rates.get("lipemia", 0.0)) * (1 - rates.get("plasma_qc_failure", 0.0))
        yields = {
            "red_cells": whole
            * tested_clean
            * (
                1
                - rates.get("clot", 0)
                - rates.get("bag_leak", 0)
                - rates.get("red_cells_qc_failure", 0)
                - rates.get("hemolysis", 0)
            ),
            "plasma": whole * tested_clean * plasma_passed,
            "cryoprecipitate": whole * tested_clean * plasma_passed * big_bags * cfg.cryo_share,
        }
        self.distribution.base_demand = {
            c: cfg.demand_ratio.get(c, 0.0) * y for c, y in yields.items()
        }
        self.distribution.base_demand["platelets"] = platelets

    # ---- a simulated day ----------------------------------------------------------------
    def run_day(self, day: date, day_no: int) -> None:
        breaches = self.cold.day(day)
        for visit in self.collection.visits(day):
            self._visit(visit, day)
        self.distribution.run_day(day, day_no, breaches)

    def _visit(self, visit: Visit, day: date) -> None:
        rng, emit, col = self.rng, self.emitter.emit, self.collection
        donor, station = visit.donor, self.region.station_id
        donor_id = donor.pseudonym_with(self.key)
        if not donor.registered:
            donor.registered = True
            emit(
                visit.at - rng.randint(5, 15) * MINUTE,
                "donor.registered",
                station,
                {
                    "donor_id": donor_id,
                    "birth_date": donor.birth.isoformat(),
                    "sex": donor.sex,
                    "abo_rh": donor.abo_rh,
                    "donor_group": donor.group,
                    "county_code": donor.county_code,
                },
            )
        deferral = col.deferral(day)
        if deferral is not None:
            reason, until = deferral
            donor.deferred_until = until
            emit(
                visit.at + rng.randint(5, 15) * MINUTE,
                "donor.deferred",
                station,
                {"donor_id": donor_id, "reason": reason, "deferred_until": until.isoformat()},
            )
            col.schedule_return(donor, day, visit.site.kind)
            return
        donation = col.donation_for(visit, day)
        donation.din = self.lab.next_din(day)
        col.record(donation, day)
        outcome = self.lab.process(donation, day)
        if outcome.infectious:
            donor.retired = True
            emit(
                outcome.decided_at + rng.randint(1 * HOUR, 4 * HOUR),
                "donor.deferred",
                station,
                {
                    "donor_id": donor_id,
                    "reason": f"献血检测 {', '.join(outcome.infectious)} 反应性，永久屏蔽",
                },
            )
        elif outcome.reactive:  # ALT only: may give again after it settles
            until = day + timedelta(days=180)
            donor.deferred_until = until
            emit(
                outcome.decided_at + rng.randint(1 * HOUR, 4 * HOUR),
                "donor.deferred",
                station,
                {
                    "donor_id": donor_id,
                    "reason": "ALT 升高，暂缓献血",
                    "deferred_until": until.isoformat(),
                },
            )
        col.schedule_return(donor, day, visit.site.kind)


class Simulation:
    def __init__(self, cfg: CityConfig, *, start: date, seed: int, pseudonym_key: bytes) -> None:
        self.cfg = cfg
        self.start = start
        city = load_city(cfg.seeds_dir)
        self.regions = build_regions(
            city,
            station_id=cfg.station_id,
            din_facility=cfg.din_facility,
            stations=cfg.stations,
            county_replicas=cfg.county_replicas,
        )
        self.emitter = Emitter(_stream(seed, "event-ids"), _stream(seed, "record-lags"))
        numbers = itertools.count(1)
        recipients = Recipients(
            _stream(seed, "recipients"), pseudonym_key, cfg.repeat_recipient_share
        )
        self.sims = [
            RegionSimulation(
                cfg,
                region,
                city.campaigns,
                start=start,
                seed=seed,
                index=i,
                key=pseudonym_key,
                emitter=self.emitter,
                donor_numbers=numbers,
                recipients=recipients,
            )
            for i, region in enumerate(self.regions)
        ]
        for sim in self.sims:
            sim.burn_in()

    def run(self, days: int) -> Iterator[Event]:
        for day_no in range(days):
            day = self.start + timedelta(days=day_no)
            self.emitter.floor = day_start(day)
            for sim in self.sims:
                sim.run_day(day, day_no)
            yield from self.emitter.take_day(day_index(day))

    @property
    def unmet(self) -> dict[str, int]:
        """Bags patients needed that no shelf could supply, by component."""
        total: Counter[str] = Counter()
        for sim in self.sims:
            total.update(sim.distribution.unmet)
        return dict(total)

    @property
    def requested(self) -> dict[tuple[str, str], int]:
        """Bags patients needed, by (month "YYYY-MM", component): clinical demand, met or not."""
        total: Counter[tuple[str, str]] = Counter()
        for sim in self.sims:
            total.update(sim.distribution.requested)
        return dict(total)


def simulate(
    cfg: CityConfig, *, start: date, days: int, seed: int, pseudonym_key: bytes
) -> Iterator[Event]:
    """Wire-format events (models/events.py) of ``days`` days of the city, in occurred_at order."""
    if days < 0:
        raise ValueError("days must be zero or more")
    return Simulation(cfg, start=start, seed=seed, pseudonym_key=pseudonym_key).run(days)
