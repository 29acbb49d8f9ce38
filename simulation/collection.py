"""Who comes to donate, where and when: sites, seasons, first-time and returning donors.

Each site expects a number of donations a day (its share of the city's rate, shaped by weekday,
Spring Festival, heat, student vacations and campaigns, and by collection growth). Donors due
to come back (GB 18467 intervals from models.rules.DonorRules) come first; first-time donors
make up the rest, so a day's total follows the expectation and the first-time share follows
how often donors come back. Platelet donors are called in to need (simulation.platelets).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from simulation import calendar as cal
from simulation.clock import HOUR, day_start
from simulation.config import CityConfig
from simulation.people import Donor, random_group
from simulation.platelets import PlateletPanel
from simulation.reference import Campaign, Region, Site

DONOR_GROUPS: tuple[str, ...] = ("student", "employee", "civil_servant", "rural_resident", "other")
_KIND_WEIGHT = {"fixed_house": 1.0, "mobile_vehicle": 0.8, "group_drive": 1.0}
# How strongly each kind of site draws each donor group (assumed).
_AFFINITY = {
    "fixed_house": {
        "student": 0.8,
        "employee": 1.0,
        "civil_servant": 0.6,
        "rural_resident": 0.5,
        "other": 1.5,
    },
    "mobile_vehicle": {
        "student": 1.3,
        "employee": 0.9,
        "civil_servant": 0.6,
        "rural_resident": 1.2,
        "other": 1.0,
    },
    "group_drive": {
        "student": 1.2,
        "employee": 1.5,
        "civil_servant": 2.5,
        "rural_resident": 0.7,
        "other": 0.2,
    },
}
_OPEN_HOURS = {
    "fixed_house": (8.5, 18.0),
    "mobile_vehicle": (9.0, 17.0),
    "group_drive": (8.5, 16.5),
}
_DEFERRALS = (
    ("血红蛋白偏低", 30),
    ("血压偏高", 14),
    ("近期感冒服药", 7),
    ("体重不足", 180),
    ("近期纹身或穿刺", 180),
    ("献血前饮酒", 7),
)


def poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 40:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def group_shares(cfg: CityConfig, year: int) -> dict[str, float]:
    """Shares of new donors by group in a calendar year: the base shares plus the yearly drift."""
    years = year - cfg.group_share_base_year
    raw = {
        g: max(0.02, cfg.group_shares[g] + cfg.group_share_drift_per_year.get(g, 0.0) * years)
        for g in DONOR_GROUPS
    }
    total = sum(raw.values())
    return {g: v / total for g, v in raw.items()}


@dataclass
class Visit:
    donor: Donor
    site: Site
    county_code: str
    at: int
    first_time: bool


@dataclass
class Donation:
    donor: Donor
    site: Site
    county_code: str
    at: int
    kind: str  # whole_blood | apheresis_platelets
    volume_ml: int
    nominal_ml: int
    therapeutic_units: int
    age: int
    first_time: bool
    short: bool = False  # under-volume: fell short of its bag by more than the tolerance
    din: str = ""


class Collection:
    def __init__(
        self,
        cfg: CityConfig,
        region: Region,
        campaigns: list[Campaign],
        rng: random.Random,
        start: date,
        donor_numbers: Iterator[int],
    ) -> None:
        self.cfg = cfg
        self.region = region
        self.campaigns = campaigns
        self.rng = rng
        self.start = start
        self.donor_numbers = donor_numbers
        self.due: dict[date, list[Donor]] = defaultdict(list)
        self.apheresis_sites = {
            s.site_id
            for s in region.sites
            if s.kind == "fixed_house" and s.county_code == region.central_county
        }
        weights = {
            s.site_id: _KIND_WEIGHT[s.kind]
            * (1.3 if s.county_code == region.central_county else 1.0)
            for s in region.sites
        }
        open_at_start = [s for s in region.sites if s.opened_on <= start] or region.sites
        self._weight_at_start = sum(weights[s.site_id] for s in open_at_start)
        per_weight = cfg.donations_per_day / self._weight_at_start
        self.site_rate = {s.site_id: weights[s.site_id] * per_weight for s in region.sites}
        self._weights = weights
        self._network: dict[date, float] = {}
        # Days of red cells on the station's shelves, once the simulation runs (None during the
        # burn-in): group drives are called off when the shelves are full.
        self.red_cell_days: Callable[[date], float] | None = None
        self.platelets = PlateletPanel(cfg, rng)
        self._seasons: dict[date, tuple[float, float, bool]] = {}
        self._year_shares: dict[int, dict[str, float]] = {}
        self._group_weights: dict[tuple[int, str, bool, bool], list[float]] = {}
        self._county_codes = [c.code for c in region.counties]
        self._county_weights = [c.population for c in region.counties]

    # ---- the day's expectation -----------------------------------------------------------
    def _season(self, day: date) -> tuple[float, float, bool]:
        """(festival x heat, campaign uplift, students away) for a day, computed once."""
        cached = self._seasons.get(day)
        if cached is None:
            cfg = self.cfg
            cached = (
                cal.festival_factor(day, cfg) * cal.heat_factor(day, cfg),
                cal.campaign_factor(day, self.campaigns, cfg),
                cal.students_away(day),
            )
            self._seasons[day] = cached
        return cached

    def _shares(self, year: int) -> dict[str, float]:
        shares = self._year_shares.get(year)
        if shares is None:
            shares = self._year_shares[year] = group_shares(self.cfg, year)
        return shares

    def presence(self, day: date, student: bool) -> float:
        """Share of donors around on a day (holidays, heat; students away on vacation)."""
        factor, _, away = self._season(day)
        if student and away:
            factor *= 1.0 - self.cfg.student_vacation_loss
        return factor

    def expected(self, site: Site, day: date, drive_day: bool = True) -> float:
        if site.opened_on > day:
            return 0.0
        cfg = self.cfg
        weekend = day.weekday() >= 5
        if site.kind == "group_drive":
            if weekend or not drive_day:
                return 0.0
            weekday = 7.0 / cfg.group_drive_days_per_week
        elif site.kind == "mobile_vehicle":
            weekday = 1.4 if weekend else 0.84
        else:
            weekday = 1.25 if weekend else 0.9
        growth = cal.growth(cfg.collection_growth_per_year, day, self.start)
        season, campaign, away = self._season(day)
        if away:
            season *= 1.0 - cfg.student_vacation_loss * self._shares(day.year)["student"]
        return (
            self.site_rate[site.site_id] * weekday * growth * season * campaign * self._reach(day)
        )

    def _reach(self, day: date) -> float:
        """A new site draws some new donors but mostly moves existing ones: the city's total
        grows with its network to the power ``site_elasticity`` (1: every site adds in full)."""
        factor = self._network.get(day)
        if factor is None:
            sites = self.region.sites
            weight = sum(self._weights[s.site_id] for s in sites if s.opened_on <= day)
            ratio = weight / self._weight_at_start if weight else 1.0
            factor = self._network[day] = float(ratio ** (self.cfg.site_elasticity - 1.0))
        return factor

    def county_of_day(self, site: Site, day: date) -> str:
        """Vehicles based where there is no donation house tour those counties on weekdays."""
        touring = self.region.touring_counties
        if site.kind != "mobile_vehicle" or site.county_code not in touring or day.weekday() >= 5:
            return site.county_code
        offset = self.region.sites.index(site)
        return touring[(day.toordinal() + offset) % len(touring)]

    # ---- people ------------------------------------------------------------------------
    def new_donor(self, site: Site, county: str, day: date) -> Donor:
        rng, cfg = self.rng, self.cfg
        away = self._season(day)[2]
        key = (day.year, site.kind, county == self.region.central_county, away)
        weights = self._group_weights.get(key)
        if weights is None:
            shares = self._shares(day.year)
            table = {g: shares[g] * _AFFINITY[site.kind][g] for g in DONOR_GROUPS}
            if county != self.region.central_county:
                table["rural_resident"] *= 2.5
                table["student"] *= 0.5
            if away:
                table["student"] *= 1.0 - cfg.student_vacation_loss
            weights = self._group_weights[key] = [table[g] for g in DONOR_GROUPS]
        group = rng.choices(DONOR_GROUPS, weights)[0]
        age = _age_for(group, rng)
        birth = _birthday(day, age) - timedelta(days=rng.randint(0, 364))
        sex = "M" if rng.random() < cfg.male_share else "F"
        home_county = (
            county
            if rng.random() < 0.85
            else rng.choices(self._county_codes, self._county_weights)[0]
        )
        return Donor(
            next(self.donor_numbers),
            birth,
            sex,
            random_group(rng),
            group,
            home_county,
            site.site_id,
        )

    def schedule_return(self, donor: Donor, day: date, site_kind: str) -> None:
        """Decide whether and when a donor comes back, respecting the minimum intervals.
        Platelet donors are not scheduled: the station calls them when their group runs low."""
        rng, cfg, rules = self.rng, self.cfg, self.cfg.donor_rules
        if donor.retired:
            return
        if donor.platelet_donor:
            if rng.random() < cfg.apheresis_return_probability:
                return  # stays on the station's list
            self.platelets.leave(donor)
        if rng.random() >= cfg.return_probability[site_kind]:
            return
        delay = int(rng.expovariate(1.0 / cfg.return_delay_mean_days[site_kind]))
        when = max(self.earliest_whole_blood(donor), day) + timedelta(days=delay)
        if donor.age_on(when) > rules.max_age_repeat_donor_years:
            return
        self.due[when].append(donor)

    def earliest_whole_blood(self, donor: Donor) -> date:
        rules = self.cfg.donor_rules
        if donor.last_date is None:
            return date.min
        if donor.last_kind == "apheresis_platelets":
            return donor.last_date + timedelta(days=rules.platelets_to_whole_min_days)
        return donor.last_date + timedelta(days=rules.whole_to_whole_min_days)

    def reschedule(self, donor: Donor, when: date) -> None:
        self.due[when].append(donor)

    # ---- the day -----------------------------------------------------------------------
    def visits(self, day: date) -> list[Visit]:
        """Everyone who comes to give blood today (before the pre-donation check), by time."""
        rng, region = self.rng, self.region
        open_sites = [s for s in region.sites if s.opened_on <= day]
        by_id = {s.site_id: s for s in open_sites}
        fallback = [s for s in open_sites if s.kind != "group_drive"] or open_sites
        returning: dict[str, list[Donor]] = defaultdict(list)
        for donor in self.due.pop(day, []):
            if donor.retired:
                continue
            if donor.deferred_until is not None and donor.deferred_until > day:
                self.reschedule(donor, donor.deferred_until + timedelta(days=rng.randint(0, 30)))
                continue
            if rng.random() > self.presence(day, donor.group == "student"):
                # Away for the festival (or the heat): back once it is over.
                later = day + timedelta(days=rng.randint(7, 28))
                if cal.in_festival(day):
                    later = max(later, cal.festival_end(day) + timedelta(days=rng.randint(1, 14)))
                self.reschedule(donor, later)
                continue
            if day < self.earliest_whole_blood(donor):
                self.reschedule(donor, self.earliest_whole_blood(donor))
                continue
            site = by_id.get(donor.home_site)
            if site is None or (site.kind == "group_drive"):
                # Group drives come to donors, not the other way round: a returning donor of a
                # drive goes to the nearest house or vehicle on the day.
                site = fallback[donor.number % len(fallback)] if fallback else None
            if site is None:
                self.reschedule(donor, day + timedelta(days=30))
                continue
            returning[site.site_id].append(donor)
        out: list[Visit] = []
        base = day_start(day)
        # Campaign days go ahead whatever the shelves hold.
        full = (
            self.red_cell_days is not None
            and self._season(day)[1] == 1.0
            and self.red_cell_days(day) > self.cfg.drive_call_off_days
        )
        houses = [s for s in open_sites if s.site_id in self.apheresis_sites]
        for donor, site in self.platelets.calls(day, houses):
            returning[site.site_id].append(donor)
        expected = [
            self.expected(
                site,
                day,
                site.kind != "group_drive"
                or (rng.random() < self.cfg.group_drive_days_per_week / 5.0 and not full),
            )
            for site in open_sites
        ]
        # The city's total follows the expectation; first-time donors fill what returning
        # donors leave, spread over the sites by how many each expects.
        came = sum(len(donors) for donors in returning.values())
        new = max(0, poisson(rng, sum(expected)) - came)
        newcomers: dict[str, int] = defaultdict(int)
        if new and sum(expected) > 0:
            for site in rng.choices(open_sites, expected, k=new):
                newcomers[site.site_id] += 1
        for site in open_sites:
            county = self.county_of_day(site, day)
            donors = [(d, d.donations == 0) for d in returning.get(site.site_id, [])]
            for _ in range(newcomers[site.site_id]):
                donors.append((self.new_donor(site, county, day), True))
            opens, closes = _OPEN_HOURS[site.kind]
            for donor, first in donors:
                at = base + int((opens + rng.random() * (closes - opens)) * HOUR)
                out.append(Visit(donor, site, county, at, first))
        out.sort(key=lambda v: (v.at, v.donor.number))
        return out

    def donation_for(self, visit: Visit, day: date) -> Donation:
        """What the donor gives: whole blood (200/300/400 ml) or apheresis platelets."""
        rng, cfg, rules = self.rng, self.cfg, self.cfg.donor_rules
        donor = visit.donor
        since = (day - donor.last_date).days if donor.last_date else 10_000
        can_apheresis = visit.site.site_id in self.apheresis_sites
        kind = "whole_blood"
        if can_apheresis and donor.platelet_donor:
            kind = "apheresis_platelets"
        elif (
            can_apheresis
            and donor.donations > 0
            and since >= rules.whole_to_platelets_min_days
            and self.platelets.wants_donors(day, donor.abo_rh)
            and rng.random() < cfg.apheresis_recruit_share
        ):
            kind = "apheresis_platelets"
            self.platelets.enrol(donor)
        if kind == "whole_blood":
            shares = cfg.whole_blood_volume_shares[donor.sex]
            nominal = rng.choices(list(shares), list(shares.values()))[0]
            short = rng.random() < cfg.discard_rates.get("under_volume", 0.0)
            if short:
                volume = _under_volume(nominal, cfg.quality_rules.volume_tolerance_fraction, rng)
            else:
                volume = round(nominal * rng.uniform(0.97, 1.03))
            units = 0
        else:
            units = 2 if rng.random() < cfg.apheresis_two_unit_share else 1
            volume = round(units * rng.uniform(235, 265))
            nominal, short = volume, False
        return Donation(
            donor=donor,
            site=visit.site,
            county_code=visit.county_code,
            at=visit.at,
            kind=kind,
            volume_ml=volume,
            nominal_ml=nominal,
            therapeutic_units=units,
            age=donor.age_on(day),
            first_time=visit.first_time,
            short=short,
        )

    def record(self, donation: Donation, day: date) -> None:
        donor = donation.donor
        donor.donations += 1
        donor.last_date = day
        donor.last_kind = donation.kind
        if donation.kind == "apheresis_platelets":
            year, count = donor.platelet_year
            donor.platelet_year = (day.year, count + 1 if year == day.year else 1)
            self.platelets.collected(day, donor.abo_rh, donation.therapeutic_units)

    def deferral(self, day: date) -> tuple[str, date] | None:
        if self.rng.random() >= self.cfg.deferral_rate:
            return None
        reason, days = _DEFERRALS[self.rng.randrange(len(_DEFERRALS))]
        return reason, day + timedelta(days=days)


def _age_for(group: str, rng: random.Random) -> int:
    """Ages skew young: students are 18-24, and many young workers give too (18-24: about 70 %
    of new donors, so that with repeat donors growing older about 58 % of donations are by
    18-24 year olds, as published, domain brief §6)."""
    if group == "student":
        return rng.choices(range(18, 25), (22, 22, 20, 16, 10, 6, 4))[0]
    young, low, high, mode = {
        "employee": (0.53, 25, 50, 28),
        "civil_servant": (0.2, 25, 55, 33),
        "rural_resident": (0.53, 25, 55, 30),
        "other": (0.75, 25, 50, 27),
    }[group]
    if rng.random() < young:
        return rng.randint(18, 24)
    return min(high, max(low, int(rng.triangular(low, high + 1, mode))))


def _birthday(day: date, age: int) -> date:
    """The latest birth date that makes someone ``age`` on ``day``."""
    year = day.year - age
    return date(year, day.month, 28) if (day.month, day.day) == (2, 29) else day.replace(year=year)


def _under_volume(nominal: int, tolerance: float, rng: random.Random) -> int:
    """A bag that fell short by more than the tolerance yet still nearer its own size than the
    next smaller one (so it reads as a short 400, not a full 300)."""
    smaller = {400: 300, 300: 200, 200: 100}[nominal]
    low = (nominal + smaller) / 2 + 1
    high = nominal * (1 - tolerance) - 1
    return round(rng.uniform(min(low, high), high))
