"""From the needle to the station's shelves: collection, two rounds of screening plus NAT,
release or quarantine, component production, inspection discards and storage.

Screening rates are shares of donations (README §5); ALT runs higher in summer and in young men,
normalised so the year's share stays at the published figure.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from models.isbt128 import make_din
from simulation.clock import HOUR, MINUTE, iso, local_hour
from simulation.collection import Donation
from simulation.config import CityConfig
from simulation.emitter import Emitter
from simulation.stock import Stock, Unit, product_code

LAB_OPENS, LAB_CLOSES = 8.0, 22.0
_SUMMER = (6, 7, 8, 9)


def lab_time(ts: int, rng: random.Random) -> int:
    """The lab works 08:00-22:00 local time; work arriving outside waits for the morning."""
    hour = local_hour(ts)
    if LAB_OPENS <= hour < LAB_CLOSES:
        return ts
    wait = (LAB_OPENS - hour) if hour < LAB_OPENS else (24.0 - hour + LAB_OPENS)
    return ts + int(wait * HOUR) + rng.randint(0, 45 * MINUTE)


@dataclass
class Outcome:
    """What the lab found, for the donor's record."""

    reactive: list[str]  # markers reactive in any round
    decided_at: int

    @property
    def infectious(self) -> list[str]:
        return [m for m in self.reactive if m != "ALT"]


class Lab:
    def __init__(
        self,
        cfg: CityConfig,
        station_id: str,
        din_facility: str,
        stock: Stock,
        equipment: dict[str, list[str]],
        rng: random.Random,
        emitter: Emitter,
        key: bytes,
    ) -> None:
        self.cfg = cfg
        self.station_id = station_id
        self.din_facility = din_facility
        self.stock = stock
        self.equipment = equipment  # kind -> equipment ids at the station
        self.rng = rng
        self.emitter = emitter
        self.key = key
        self.sequence: dict[int, int] = {}
        self.location = f"{station_id}-STORE"
        rules = cfg.storage_rules.components
        self.shelf_seconds = {name: rule.shelf_life_hours * HOUR for name, rule in rules.items()}
        # ALT modifiers average about 1 over a year's donors: keep the published mean.
        young_men = cfg.male_share * 0.5
        self.alt_norm = (
            (
                young_men * cfg.alt_young_men_factor
                + (cfg.male_share - young_men)
                + (1 - cfg.male_share) * cfg.alt_women_factor
            )
            * (4 * cfg.alt_summer_factor + 8 * self._alt_off_season())
            / 12
        )

    def _alt_off_season(self) -> float:
        return (12 - 4 * self.cfg.alt_summer_factor) / 8

    def next_din(self, day: date) -> str:
        year = day.year % 100
        seq = self.sequence.get(year, 0) + 1
        self.sequence[year] = seq
        return make_din(self.din_facility, year, seq)

    # ---- screening ---------------------------------------------------------------------
    def reactive_markers(self, d: Donation, day: date) -> list[str]:
        rng, cfg = self.rng, self.cfg
        out = []
        for marker, rate in cfg.marker_rates.items():
            p = rate
            if marker == "ALT":
                season = cfg.alt_summer_factor if day.month in _SUMMER else self._alt_off_season()
                if d.donor.sex == "F":
                    demog = cfg.alt_women_factor
                elif d.age <= 25:
                    demog = cfg.alt_young_men_factor
                else:
                    demog = 1.0
                p = rate * season * demog / self.alt_norm
            if rng.random() < p:
                out.append(marker)
        if rng.random() < cfg.nat_reactive_rate:
            targets = list(cfg.nat_split)
            out.append(rng.choices(targets, [cfg.nat_split[t] for t in targets])[0])
        return out

    def _round(self, din: str, round_no: int, reactive: dict[int, set[str]]) -> dict[str, object]:
        rng = self.rng
        results = []
        method = "ELISA" if round_no == 1 else "CLIA"
        for marker in self.cfg.screening_rules.serology_markers:
            hit = marker in reactive[round_no]
            if marker == "ALT":
                value = (
                    round(rng.uniform(51, 160), 1)
                    if hit
                    else round(min(49.0, rng.lognormvariate(2.9, 0.4)), 1)
                )
                results.append(
                    {"marker": marker, "method": "rate", "reactive": hit, "value": value}
                )
            else:
                value = (
                    round(rng.uniform(1.2, 18.0), 2) if hit else round(rng.uniform(0.03, 0.45), 2)
                )
                results.append(
                    {"marker": marker, "method": method, "reactive": hit, "value": value}
                )
        return {"din": din, "round": round_no, "results": results}

    # ---- the donation's life at the station -------------------------------------------
    def process(self, d: Donation, day: date) -> Outcome:
        rng, emit, station = self.rng, self.emitter.emit, self.station_id
        din = d.din
        donor = d.donor
        emit(
            d.at,
            "donation.collected",
            station,
            {
                "din": din,
                "donor_id": donor.pseudonym_with(self.key),
                "donation_kind": d.kind,
                "volume_ml": d.volume_ml,
                "site_id": d.site.site_id,
                "site_kind": d.site.kind,
                "county_code": d.county_code,
                "abo_rh": donor.abo_rh,
                "donor_group": donor.group,
                "donor_age": d.age,
                "donor_sex": donor.sex,
                "first_time": d.first_time,
                "therapeutic_units": d.therapeutic_units,
            },
        )
        if d.short:
            at = d.at + rng.randint(10, 40) * MINUTE
            emit(
                at,
                "unit.discarded",
                station,
                _discard(din, None, "under_volume", d.volume_ml, "采血量不足"),
            )
            return Outcome([], at)

        reactive = self.reactive_markers(d, day)
        by_round: dict[int, set[str]] = {1: set(), 2: set()}
        for marker in reactive:
            # Repeat-reactive in most cases; at least one round sees it.
            first, second = rng.random() < 0.9, rng.random() < 0.92
            if not (first or second):
                second = True
            if first:
                by_round[1].add(marker)
            if second:
                by_round[2].add(marker)
        r1 = lab_time(d.at + rng.randint(3 * HOUR, 8 * HOUR), rng)
        nat = lab_time(r1 + rng.randint(30 * MINUTE, 3 * HOUR), rng)
        r2 = lab_time(r1 + rng.randint(1 * HOUR, 4 * HOUR), rng)
        emit(r1, "test.result_recorded", station, self._round(din, 1, by_round))
        emit(
            nat,
            "test.result_recorded",
            station,
            {
                "din": din,
                "round": 1,
                "results": [
                    {"marker": m, "method": "NAT", "reactive": m in reactive}
                    for m in self.cfg.screening_rules.nat_markers
                ],
            },
        )
        emit(r2, "test.result_recorded", station, self._round(din, 2, by_round))
        decided = lab_time(max(r2, nat) + rng.randint(10 * MINUTE, 60 * MINUTE), rng)
        if reactive:
            names = ", ".join(reactive)
            emit(
                decided,
                "unit.quarantined",
                station,
                {"din": din, "reason": f"检测反应性（{names}），隔离待报废"},
            )
            gone = lab_time(decided + rng.randint(1 * HOUR, 4 * HOUR), rng)
            emit(
                gone,
                "unit.discarded",
                station,
                _discard(din, None, "test_reactive", d.volume_ml, f"{names} 反应性"),
            )
            return Outcome(reactive, decided)

        emit(decided, "unit.released", station, {"din": din})
        produced = decided + rng.randint(10 * MINUTE, 60 * MINUTE)
        # Lipemia shows in the plasma: one finding per donation, for its plasma and cryo.
        rates = self.cfg.discard_rates
        lipemic = d.kind == "whole_blood" and rng.random() < rates.get("lipemia", 0.0)
        # Red plasma, abnormal colour, fibrin: seen in the same bag at the same inspection.
        failed_qc = (
            d.kind == "whole_blood"
            and not lipemic
            and rng.random() < rates.get("plasma_qc_failure", 0.0)
        )
        for unit in self._components(d):
            emit(
                produced,
                "component.produced",
                station,
                {
                    "din": din,
                    "product_code": unit.code,
                    "component_type": unit.ctype,
                    "volume_ml": unit.volume,
                    "expires_at": iso(unit.expires_at),
                    "abo_rh": unit.group,
                },
            )
            cause = self._inspection(unit, d, lipemic, failed_qc)
            if cause is not None:
                cause_name, note = cause
                at = produced + rng.randint(5 * MINUTE, 40 * MINUTE)
                emit(
                    at,
                    "unit.discarded",
                    station,
                    _discard(din, unit.code, cause_name, unit.volume, note),
                )
                continue
            stored = produced + rng.randint(5 * MINUTE, 20 * MINUTE)
            kind = {"red_cells": "fridge", "platelets": "platelet_agitator"}.get(
                unit.ctype, "freezer"
            )
            choices = self.equipment[kind]
            equipment = choices[rng.randrange(len(choices))]
            if unit.ctype == "red_cells" and rng.random() < rates.get("hemolysis", 0.0):
                unit.defect = (stored + rng.randint(1, 10) * 86400, "hemolysis")
            self.stock.add(unit, stored, equipment)
            emit(
                stored,
                "unit.stored",
                station,
                {
                    "din": din,
                    "product_code": unit.code,
                    "location_id": self.location,
                    "equipment_id": equipment,
                },
            )
        return Outcome([], decided)

    def _components(self, d: Donation) -> list[Unit]:
        rng, cfg = self.rng, self.cfg
        group, v, at = d.donor.abo_rh, d.volume_ml, d.at
        shelf = self.shelf_seconds
        if d.kind == "apheresis_platelets":
            n = d.therapeutic_units
            each = v // n
            divisions = ["00"] if n == 1 else ["A0", "B0", "C0"][:n]
            return [
                Unit(
                    d.din,
                    product_code("platelets", div),
                    "platelets",
                    group,
                    round(each * rng.uniform(0.96, 0.99)),
                    at,
                    at + shelf["platelets"],
                )
                for div in divisions
            ]
        red = round(v * rng.uniform(0.52, 0.58))
        plasma = round(v * rng.uniform(0.36, 0.41))
        units = [
            Unit(
                d.din,
                product_code("red_cells"),
                "red_cells",
                group,
                red,
                at,
                at + shelf["red_cells"],
            )
        ]
        if d.nominal_ml >= 300 and rng.random() < cfg.cryo_share:
            cryo = round(v * rng.uniform(0.05, 0.065))
            units.append(
                Unit(
                    d.din,
                    product_code("frozen_plasma"),
                    "plasma",
                    group,
                    plasma - cryo,
                    at,
                    at + shelf["plasma"],
                )
            )
            units.append(
                Unit(
                    d.din,
                    product_code("cryoprecipitate"),
                    "cryoprecipitate",
                    group,
                    cryo,
                    at,
                    at + shelf["cryoprecipitate"],
                )
            )
        else:
            units.append(
                Unit(
                    d.din,
                    product_code("fresh_frozen_plasma"),
                    "plasma",
                    group,
                    plasma,
                    at,
                    at + shelf["plasma"],
                )
            )
        return units

    def _inspection(
        self, unit: Unit, d: Donation, lipemic: bool, failed_qc: bool
    ) -> tuple[str, str] | None:
        """Visual inspection after production: lipemic plasma, clotted red cells, a leaking bag.
        Rates are shares of collected units."""
        rates, rng = self.cfg.discard_rates, self.rng
        if d.kind != "whole_blood":
            return (
                ("bag_leak", "血袋渗漏")
                if rng.random() < rates.get("bag_leak", 0.0) / d.therapeutic_units
                else None
            )
        if unit.ctype == "red_cells":
            if rng.random() < rates.get("clot", 0.0):
                return "clot", "红细胞内有凝块"
            if rng.random() < rates.get("bag_leak", 0.0):
                return "bag_leak", "血袋渗漏"
            if rng.random() < rates.get("red_cells_qc_failure", 0.0):
                return "qc_failure", "红细胞外观检查不合格（颜色异常或热合不良）"
            return None
        if unit.ctype in ("plasma", "cryoprecipitate"):
            if lipemic:
                return "lipemia", "乳糜血（脂血）"
            return (
                ("qc_failure", "血浆外观检查不合格（红浆、颜色异常或纤维蛋白析出）")
                if failed_qc
                else None
            )
        return None


def _discard(din: str, code: str | None, cause: str, volume: int, note: str) -> dict[str, object]:
    body: dict[str, object] = {"din": din, "cause": cause, "volume_ml": volume, "note": note}
    if code is not None:
        body["product_code"] = code
    return body
