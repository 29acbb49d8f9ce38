"""What a simulated city looks like: sizes, growth, and every calibration rate.

Defaults are the published figures of ../shared/domain/README.md §5–6; a figure marked (assumed)
has no published source. The domain rules themselves (donation intervals, shelf lives, storage
ranges, tolerances) come from models.rules, so the simulator obeys what the platform checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from models.rules import ColdChainRules, DonorRules, QualityRules, ScreeningRules, StorageRules
from simulation.reference import ANLAN_DIR

# 安康市 (Ankang), 2020 census resident population (安康市第七次全国人口普查主要数据公报, 2021):
# the sum of dbt/seeds/counties.csv.
ANKANG_POPULATION = 2_493_436
# China's donation rate, per 1,000 residents a year (2024; domain brief §6): the default city
# collects at the national rate.
NATIONAL_DONATIONS_PER_1000 = 11.4
# Donations a year per unit of ``donations_per_day`` (an ordinary start-year day): weekends,
# seasons, campaigns and deferrals shape the days around it. Measured on the ankang preset
# (donations in a simulated 2025 / donations_per_day); tests/unit/test_calibration.py checks
# the resulting rate per 1,000 residents.
_DAYS_PER_YEAR_OF_ORDINARY_DAYS = 349.0


def ankang_donations_per_day(sample: float = 1.0) -> float:
    """The ordinary-day donations that give Ankang the national rate per 1,000 residents."""
    per_year = NATIONAL_DONATIONS_PER_1000 * ANKANG_POPULATION * sample / 1000
    return per_year / _DAYS_PER_YEAR_OF_ORDINARY_DAYS


def _marker_rates() -> dict[str, float]:
    # Share of donations reactive per marker (Zhengzhou 2013–17).
    return {
        "ALT": 0.0141,
        "HBsAg": 0.0036,
        "anti-HCV": 0.0032,
        "anti-TP": 0.0027,
        "anti-HIV": 0.0014,
    }


def _nat_split() -> dict[str, float]:
    # (assumed) which NAT target a NAT-only yield is.
    return {"HBV-DNA": 0.8, "HCV-RNA": 0.12, "HIV-RNA": 0.08}


def _group_shares() -> dict[str, float]:
    # (assumed) shares of new donors by group in the base year.
    return {
        "student": 0.32,
        "employee": 0.30,
        "civil_servant": 0.05,
        "rural_resident": 0.12,
        "other": 0.21,
    }


def _group_drift() -> dict[str, float]:
    # (assumed) change of each share per year: students and employees fall (the 2024 speech);
    # civil servants and rural residents rise slowly as the city asks them to.
    return {
        "student": -0.018,
        "employee": -0.012,
        "civil_servant": 0.004,
        "rural_resident": 0.008,
        "other": 0.018,
    }


def _demand_ratio() -> dict[str, float]:
    # (assumed) clinical use in the start year as a share of what collection yields.
    return {"red_cells": 0.93, "plasma": 0.9, "cryoprecipitate": 0.9}


def _cover_days() -> dict[str, float]:
    # (assumed) days of expected use a hospital blood bank keeps on its shelf.
    # Platelets: none; they are booked per patient and sent by the station on the day.
    return {"red_cells": 4.0, "plasma": 7.0, "cryoprecipitate": 7.0, "platelets": 0.0}


def _discard_rates() -> dict[str, float]:
    # Non-testing discards, share of collected whole-blood units (§5's by-cause figures).
    # The three last are (fitted): §5's by-component shares (red cells 2.2 %, plasma 4-5 %)
    # less what the by-cause figures and the simulated cold chain and returns already explain,
    # given to causes §5 names under "Also" (simulation/calibration.py, "Discards by
    # component"); how red cells' part splits between hemolysis and QC failure is (assumed).
    return {
        "lipemia": 0.028,
        "bag_leak": 0.0024,
        "clot": 0.0009,
        "under_volume": 0.0002,
        # Red cells haemolysing in storage (溶血), found at a morning check 1-10 days after
        # storage: about two in three are found before the bag is used.
        "hemolysis": 0.005,
        # Failing the visual inspection after production for anything but lipemia or a clot
        # (recorded as a QC failure): red cells with an abnormal colour or a bad seal; plasma
        # that is red (红浆), discoloured or shows fibrin (with the donation's cryo).
        "red_cells_qc_failure": 0.011,
        "plasma_qc_failure": 0.012,
    }


def _reaction_categories() -> dict[str, float]:
    # (assumed) SHOT-style mix of reported reactions: mostly allergic and febrile.
    return {
        "allergic": 0.5,
        "febrile": 0.35,
        "taco": 0.04,
        "hypotensive": 0.03,
        "haemolytic": 0.02,
        "anaphylaxis": 0.02,
        "trali": 0.01,
        "other": 0.03,
    }


@dataclass(frozen=True)
class CityConfig:
    """A simulated city. Change any field with ``dataclasses.replace(PRESETS["small"], ...)``."""

    name: str = "ankang"
    seeds_dir: Path | None = None  # default: the repository's dbt/seeds (安康市)
    # Share of the residents simulated (a sampled population): donations scale with it, and
    # rates per 1,000 residents are taken over population x sample (dbt var population_sample,
    # setting BLOODTRACE_DBT__POPULATION_SAMPLE), so they stay the full city's rates.
    population_sample: float = 1.0
    station_id: str = "BS01"
    station_name: str = "安康市中心血站"
    din_facility: str = "C4501"
    stations: int = 1  # copies of the seeded service area, each with its own station
    county_replicas: int = 1  # copies of the seeded counties under each station

    # ---- collection ------------------------------------------------------------------------
    # Donations on an ordinary day of the start year, per station, across the sites open on
    # the start date; weekdays, seasons and campaigns shape each day around it (a prefecture
    # city of 3-5 M residents: 200-400 a day).
    donations_per_day: float = field(default_factory=ankang_donations_per_day)
    collection_growth_per_year: float = 0.03
    # (assumed) a site opening after the start adds donations with diminishing returns: the
    # total grows as (network weight) ** site_elasticity (0: pure redistribution, 1: additive).
    site_elasticity: float = 0.3
    demand_growth_per_year: float = 0.10  # clinical use grows faster (10-15 %/year in the 2010s)
    festival_dip: float = 0.36  # Spring Festival: -25 % to -40 %
    festival_demand_dip: float = 0.12  # (assumed)
    heat_dip: float = 0.12  # (assumed) July-August
    student_vacation_loss: float = 0.75  # (assumed) share of student donors away on vacation
    campaign_uplift: float = 0.25  # (assumed) uplift on a campaign day (doubled on 14 June)
    group_drive_days_per_week: float = 4.0  # (assumed) a drive somewhere most weekdays
    male_share: float = 0.64
    group_shares: dict[str, float] = field(default_factory=_group_shares)
    group_share_base_year: int = 2020
    group_share_drift_per_year: dict[str, float] = field(default_factory=_group_drift)
    # Repeat donors: the chance a donor comes back (calibrated so ~60 % of donations are by
    # first-time donors, 58-64 % published); mobile vehicles' donors come back more often.
    return_probability: dict[str, float] = field(
        default_factory=lambda: {"fixed_house": 0.36, "mobile_vehicle": 0.46, "group_drive": 0.3}
    )
    return_delay_mean_days: dict[str, float] = field(
        default_factory=lambda: {"fixed_house": 150.0, "mobile_vehicle": 90.0, "group_drive": 200.0}
    )
    apheresis_recruit_share: float = 0.3  # (assumed) repeat donors asked, while the list is short
    apheresis_return_probability: float = 0.9  # (assumed) platelet donors stay on the list
    apheresis_two_unit_share: float = 0.5  # (assumed) 2 therapeutic units per collection
    whole_blood_volume_shares: dict[str, dict[int, float]] = field(
        default_factory=lambda: {
            "M": {400: 0.68, 300: 0.26, 200: 0.06},
            "F": {400: 0.42, 300: 0.42, 200: 0.16},
        }
    )
    # (assumed) a station calls off group drives above this many days of red cells, and calls
    # platelet donors of a group to keep this many days of its platelets.
    drive_call_off_days: float = 18.0
    platelet_target_days: float = 2.5  # during the burn-in (no bookings yet)
    # (assumed) after it, platelets are collected to the next two days' bookings plus this.
    platelet_buffer_days: float = 0.0  # two days of bookings already hold a day to spare
    platelet_pool_days: float = 60.0  # (assumed) donors on the list: 60 days of platelet use
    deferral_rate: float = 0.015  # (assumed) visits deferred at the pre-donation check
    burn_in_days: int = 1095  # donor history simulated (without events) before the start

    # ---- testing -------------------------------------------------------------------------
    marker_rates: dict[str, float] = field(default_factory=_marker_rates)
    nat_reactive_rate: float = 0.0005
    nat_split: dict[str, float] = field(default_factory=_nat_split)
    alt_summer_factor: float = 1.35  # ALT peaks June-September
    alt_young_men_factor: float = 1.5  # and in men aged 18-25
    alt_women_factor: float = 0.6

    # ---- components and discards --------------------------------------------------------
    cryo_share: float = 0.3  # (assumed) whole blood >= 300 ml also giving cryoprecipitate
    discard_rates: dict[str, float] = field(default_factory=_discard_rates)

    # ---- hospitals ---------------------------------------------------------------------
    demand_ratio: dict[str, float] = field(default_factory=_demand_ratio)
    # (assumed) platelets are collected to order, so their use is set against all donations
    # (China: about 0.1 therapeutic unit per donation); the platelet donor pool must cover it.
    platelet_units_per_donation: float = 0.09
    cover_days: dict[str, float] = field(default_factory=_cover_days)
    warmup_days: int = 28  # clinical use ramps up while the empty shelves fill at the start
    crossmatch_incompatible_rate: float = 0.002  # (assumed)
    return_rate: float = 0.01  # (assumed) issued units sent back unused
    # (assumed) of those, > 30 min out of the fridge. Not platelets: they are kept at room
    # temperature and come back from the ward as they left (re-stocked, never "out of control").
    return_out_of_control_share: float = 0.3
    reaction_rate: float = 0.0025  # (assumed) reactions reported per transfused unit
    reaction_categories: dict[str, float] = field(default_factory=_reaction_categories)
    repeat_recipient_share: float = 0.15  # (assumed) episodes of a patient transfused before

    # ---- cold chain --------------------------------------------------------------------
    # Emit every fixed-equipment reading from this day on; before it (history years of the
    # demo) only a long excursion's day of readings. None: every day.
    readings_from: date | None = None
    short_excursions_per_equipment_day: float = 0.02  # (assumed) door left open, defrost
    long_excursions_per_equipment_year: float = 0.25  # (assumed) compressor failure overnight
    station_long_excursions_per_equipment_year: float = 0.05  # (assumed) better maintained
    agitator_stops_per_day: float = 0.02  # (assumed)

    # ---- rules the platform checks -------------------------------------------------------
    donor_rules: DonorRules = field(default_factory=DonorRules)
    storage_rules: StorageRules = field(default_factory=StorageRules)
    screening_rules: ScreeningRules = field(default_factory=ScreeningRules)
    cold_chain_rules: ColdChainRules = field(default_factory=ColdChainRules)
    quality_rules: QualityRules = field(default_factory=QualityRules)  # under-volume tolerance


_ANLAN = CityConfig(
    name="anlan", seeds_dir=ANLAN_DIR, station_name="安澜市中心血站", donations_per_day=22.0
)

PRESETS: dict[str, CityConfig] = {
    # The default: a 1-in-4 sample of Ankang's residents (about 20 donations a day, ~60 k
    # events a year beside the temperature readings); rates per 1,000 are the full city's.
    "small": CityConfig(
        name="small", population_sample=0.25, donations_per_day=ankang_donations_per_day(0.25)
    ),
    # The demo's five years of history: a 1-in-25 sample of Ankang (about 3 donations a day,
    # 1,100 a year), so five years load in a few minutes; rates per 1,000 are the city's.
    "demo": CityConfig(
        name="demo", population_sample=0.04, donations_per_day=ankang_donations_per_day(0.04)
    ),
    # All of Ankang: about 78 donations a day (11.4 per 1,000 residents a year).
    "ankang": CityConfig(),
    # The fictional 安澜市 (six made-up counties, ~22 donations a day).
    "anlan": _ANLAN,
    # ~300 a day: three copies of the fictional counties under one station.
    "prefecture": replace(_ANLAN, name="prefecture", county_replicas=3, donations_per_day=300.0),
    # ~1.1 M a year: ten prefectures, each with its own station.
    "province": replace(
        _ANLAN, name="province", stations=10, county_replicas=3, donations_per_day=300.0
    ),
}
