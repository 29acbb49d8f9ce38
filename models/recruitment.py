"""Emergency recruitment: the donors of a group who may give on the day they are called,
ranked by how likely they are to come, grouped by the site they used (pure).

Eligible on the call day (GB 18467-2011, settings section ``donor``): aged 18–55, or up to 60
for a repeat donor; the interval after their last donation of each kind (whole blood → whole
blood 182 days, platelets → whole blood 28, for a platelet call whole blood → platelets 90,
platelets → platelets 14 and at most 24 platelet donations in 12 months); not deferred on the
day (a deferral without an end date is permanent); never confirmed reactive. Ranked: repeat
donors first (two or more donations), then the most recent donation first. Only pseudonyms are
listed: the station's own system maps them to people.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from models.rules import DonorRules

WHOLE, PLATELETS = "whole_blood", "apheresis_platelets"


@dataclass(frozen=True)
class PastDonation:
    on: date
    kind: str  # donation kind: whole_blood, apheresis_platelets, apheresis_plasma
    site_id: str


@dataclass
class DonorRecord:
    donor_id: str  # pseudonym
    abo_rh: str
    birth_date: date | None
    donations: list[PastDonation] = field(default_factory=list)
    # Deferrals: (recorded on, until); until None means permanent.
    deferrals: list[tuple[date, date | None]] = field(default_factory=list)
    reactive: bool = False  # an infectious marker ever confirmed reactive


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def ineligibility(
    donor: DonorRecord, day: date, rules: DonorRules, kind: str = WHOLE
) -> str | None:
    """Why a donor may not give ``kind`` on ``day`` (None: eligible)."""
    if donor.reactive:
        return "reactive history"
    for recorded, until in donor.deferrals:
        if recorded <= day and (until is None or until > day):
            return "deferred"
    repeat = bool(donor.donations)
    if donor.birth_date is None:
        return "age unknown"
    age = age_on(donor.birth_date, day)
    limit = rules.max_age_repeat_donor_years if repeat else rules.max_age_years
    if not rules.min_age_years <= age <= limit:
        return "age"
    last: dict[str, date] = {}
    for d in donor.donations:
        if d.on <= day and (d.kind not in last or d.on > last[d.kind]):
            last[d.kind] = d.on
    gaps = (
        {WHOLE: rules.whole_to_whole_min_days, PLATELETS: rules.platelets_to_whole_min_days}
        if kind == WHOLE
        else {
            WHOLE: rules.whole_to_platelets_min_days,
            PLATELETS: rules.platelets_to_platelets_min_days,
        }
    )
    for before, need in gaps.items():
        if before in last and (day - last[before]).days < need:
            return f"interval after {before}"
    if kind == PLATELETS:
        year_ago = day - timedelta(days=365)
        count = sum(1 for d in donor.donations if d.kind == PLATELETS and year_ago < d.on <= day)
        if count >= rules.platelets_max_per_year:
            return "platelet donations this year"
    return None


@dataclass
class Candidate:
    donor_id: str
    site_id: str  # the site of the latest donation ('' : never donated)
    donations: int
    last_donation: date | None

    @property
    def repeat(self) -> bool:
        return self.donations >= 2

    def to_json(self) -> dict[str, Any]:
        return {
            "donor_id": self.donor_id,
            "donations": self.donations,
            "repeat": self.repeat,
            "last_donation": self.last_donation.isoformat() if self.last_donation else None,
        }


def rank_key(c: Candidate) -> tuple[int, int, str]:
    """Repeat donors first, then the most recent donation, then the pseudonym (stable)."""
    recency = -c.last_donation.toordinal() if c.last_donation else 0
    return (0 if c.repeat else 1, recency, c.donor_id)


@dataclass
class CallList:
    abo_rh: str
    call_day: date
    kind: str
    gap_units: float
    turn_up_rate: float
    units_per_donation: float
    candidates: list[Candidate]  # ranked

    @property
    def needed(self) -> int:
        """Donors to call to close the gap at the turn-up rate (never more than eligible)."""
        if self.gap_units <= 0:
            return 0
        want = math.ceil(self.gap_units / (self.turn_up_rate * self.units_per_donation))
        return min(want, len(self.candidates))

    def by_site(self) -> dict[str, list[Candidate]]:
        out: dict[str, list[Candidate]] = {}
        for c in self.candidates:
            out.setdefault(c.site_id, []).append(c)
        return out

    def to_json(self, limit: int | None = None) -> dict[str, Any]:
        called = self.candidates[: self.needed if limit is None else limit]
        sites: dict[str, list[dict[str, Any]]] = {}
        for c in called:
            sites.setdefault(c.site_id, []).append(c.to_json())
        return {
            "abo_rh": self.abo_rh,
            "call_day": self.call_day.isoformat(),
            "donation_kind": self.kind,
            "gap_units": round(self.gap_units, 1),
            "turn_up_rate": round(self.turn_up_rate, 3),
            "eligible": len(self.candidates),
            "repeat_eligible": sum(1 for c in self.candidates if c.repeat),
            "needed": self.needed,
            "sites": [
                {"site_id": site, "donors": donors}
                for site, donors in sorted(sites.items(), key=lambda kv: -len(kv[1]))
            ],
        }


def call_list(
    donors: list[DonorRecord],
    abo_rh: str,
    day: date,
    rules: DonorRules,
    *,
    kind: str = WHOLE,
    gap_units: float = 0.0,
    turn_up_rate: float = 0.3,
    units_per_donation: float = 1.0,
) -> CallList:
    """The eligible donors of ``abo_rh`` on ``day``, ranked."""
    candidates = []
    for donor in donors:
        if donor.abo_rh != abo_rh or ineligibility(donor, day, rules, kind) is not None:
            continue
        past = sorted((d for d in donor.donations if d.on <= day), key=lambda d: d.on)
        candidates.append(
            Candidate(
                donor.donor_id,
                past[-1].site_id if past else "",
                len(past),
                past[-1].on if past else None,
            )
        )
    candidates.sort(key=rank_key)
    return CallList(abo_rh, day, kind, gap_units, turn_up_rate, units_per_donation, candidates)
