"""Apheresis platelets are collected to order: the station keeps a list of platelet donors by
ABO/RhD group and calls them in when a group's stock falls below its target cover.

Platelets keep five days (models.rules.StorageRules), so collecting "whenever donors turn up",
as whole blood is, would outdate most of them; calling by group is what stations do.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta

from simulation.config import CityConfig
from simulation.people import GROUP_WEIGHTS, GROUPS, Donor
from simulation.reference import Site


class PlateletPanel:
    def __init__(self, cfg: CityConfig, rng: random.Random) -> None:
        self.cfg = cfg
        self.rng = rng
        self.registry: dict[str, list[Donor]] = {g: [] for g in GROUPS}
        # Expected therapeutic units used a day (all groups), and what the station holds of a
        # group; before the first day (the burn-in) there is no stock: the last three days'
        # collections stand in for it.
        self.daily: Callable[[date], float] = lambda day: 0.0
        self.held: Callable[[date, str], int] | None = None
        # Bags of a group booked for a day (after the burn-in): collected to these.
        self.booked: Callable[[date, str], int] | None = None
        self._recent: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def _daily(self, day: date, group: str) -> float:
        return self.daily(day) * GROUP_WEIGHTS[GROUPS.index(group)]

    def can_give(self, donor: Donor, day: date) -> bool:
        """GB 18467: 2 weeks after platelets, 3 months after whole blood, 24 a year."""
        rules = self.cfg.donor_rules
        if donor.retired or (donor.deferred_until is not None and donor.deferred_until > day):
            return False
        if donor.age_on(day) > rules.max_age_repeat_donor_years:
            return False
        if donor.last_date is not None:
            gap = (
                rules.platelets_to_platelets_min_days
                if donor.last_kind == "apheresis_platelets"
                else rules.whole_to_platelets_min_days
            )
            if (day - donor.last_date).days < gap:
                return False
        year, count = donor.platelet_year
        return not (year == day.year and count >= rules.platelets_max_per_year)

    def need(self, day: date, group: str) -> float:
        """Therapeutic units to collect today: the target cover minus what is held."""
        if self.held is not None:
            held = self.held(day, group)
        else:
            held = sum(self._recent[day - timedelta(days=i)][group] for i in range(1, 4))
        if self.booked is not None:
            # Today's collections are released tomorrow: tomorrow's and the day after's
            # bookings, plus a small buffer for emergencies.
            booked = self.booked(day + timedelta(days=1), group) + self.booked(
                day + timedelta(days=2), group
            )
            return booked + self.cfg.platelet_buffer_days * self._daily(day, group) - held
        return self.cfg.platelet_target_days * self._daily(day, group) - held

    def wants_donors(self, day: date, group: str) -> bool:
        """Whether the list of a group is shorter than the pool the station aims for."""
        per_donation = 1 + self.cfg.apheresis_two_unit_share
        pool = self._daily(day, group) * self.cfg.platelet_pool_days / per_donation
        return len(self.registry[group]) < pool

    def enrol(self, donor: Donor) -> None:
        donor.platelet_donor = True
        self.registry[donor.abo_rh].append(donor)

    def leave(self, donor: Donor) -> None:
        donor.platelet_donor = False
        self.registry[donor.abo_rh].remove(donor)

    def collected(self, day: date, group: str, units: int) -> None:
        self._recent[day][group] += units
        self._recent.pop(day - timedelta(days=5), None)

    def calls(self, day: date, houses: list[Site]) -> list[tuple[Donor, Site]]:
        """Donors called in today, the longest-rested first, each to their own house."""
        if not houses:
            return []
        rng, out = self.rng, []
        per_donation = 1 + self.cfg.apheresis_two_unit_share
        for group in GROUPS:
            need = self.need(day, group) / per_donation
            if need <= 0:
                continue
            wanted = int(need) + (rng.random() < need - int(need))
            registry = self.registry[group]
            registry[:] = [d for d in registry if not d.retired]
            ready = [d for d in registry if self.can_give(d, day)]
            ready.sort(key=lambda d: (d.last_date or date.min, d.number))
            for donor in ready[:wanted]:
                home = next((s for s in houses if s.site_id == donor.home_site), houses[0])
                out.append((donor, home))
        return out
