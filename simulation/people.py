"""Synthetic people: donors and recipients with national ID numbers that are never emitted.

Only the keyed pseudonym of an ID (models.pseudonym) leaves the simulator, exactly as the SDK
would send it. IDs use area codes starting 99 (donors) and 98 (recipients), which no real
county has, so a synthetic ID cannot be anyone's.
"""

from __future__ import annotations

import random
from datetime import date

from models.pseudonym import pseudonymise

ABO_SHARES = {"O": 0.32, "A": 0.29, "B": 0.29, "AB": 0.10}  # Han Chinese, approximately
RHD_NEGATIVE_SHARE = 0.004
GROUPS: tuple[str, ...] = ("O+", "O-", "A+", "A-", "B+", "B-", "AB+", "AB-")
GROUP_WEIGHTS: tuple[float, ...] = tuple(
    ABO_SHARES[g[:-1]] * (RHD_NEGATIVE_SHARE if g.endswith("-") else 1 - RHD_NEGATIVE_SHARE)
    for g in GROUPS
)
_CHECK_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"


def national_id(prefix: str, number: int, birth: date) -> str:
    """An 18-character resident ID (GB 11643) with a valid check character, unique per number."""
    area = f"{prefix}{(number // 1000) % 10000:04d}"
    body = f"{area}{birth:%Y%m%d}{number % 1000:03d}"
    total = sum(int(ch) * w for ch, w in zip(body, _CHECK_WEIGHTS, strict=True))
    return body + _CHECK_CHARS[total % 11]


def random_group(rng: random.Random) -> str:
    return rng.choices(GROUPS, GROUP_WEIGHTS)[0]


class Donor:
    __slots__ = (
        "abo_rh",
        "birth",
        "county_code",
        "deferred_until",
        "donations",
        "group",
        "home_site",
        "last_date",
        "last_kind",
        "number",
        "platelet_donor",
        "platelet_year",
        "pseudonym",
        "registered",
        "retired",
        "sex",
    )

    def __init__(
        self,
        number: int,
        birth: date,
        sex: str,
        abo_rh: str,
        group: str,
        county_code: str,
        home_site: str,
    ) -> None:
        self.number = number
        self.birth = birth
        self.sex = sex
        self.abo_rh = abo_rh
        self.group = group
        self.county_code = county_code
        self.home_site = home_site
        self.pseudonym = ""
        self.registered = False  # donor.registered emitted
        self.donations = 0
        self.last_date: date | None = None
        self.last_kind = ""
        self.platelet_donor = False
        self.platelet_year = (0, 0)  # (year, platelet donations that year)
        self.deferred_until: date | None = None
        self.retired = False  # permanently deferred, or will not come back

    def age_on(self, day: date) -> int:
        years = day.year - self.birth.year
        return years - ((day.month, day.day) < (self.birth.month, self.birth.day))

    def pseudonym_with(self, key: bytes) -> str:
        if not self.pseudonym:
            self.pseudonym = pseudonymise(national_id("99", self.number, self.birth), key)
        return self.pseudonym


class Recipients:
    """Patients: new ones, and some transfused again at the same hospital."""

    def __init__(self, rng: random.Random, key: bytes, repeat_share: float) -> None:
        self._rng = rng
        self._key = key
        self._repeat_share = repeat_share
        self._count = 0
        self._recent: dict[tuple[str, str], list[str]] = {}

    def pick(self, hospital_id: str, group: str, today: date) -> str:
        recent = self._recent.setdefault((hospital_id, group), [])
        rng = self._rng
        if recent and rng.random() < self._repeat_share:
            return recent[rng.randrange(len(recent))]
        self._count += 1
        age = rng.randint(1, 90)
        birth = date(today.year - age, rng.randint(1, 12), rng.randint(1, 28))
        pseudonym = pseudonymise(national_id("98", self._count, birth), self._key)
        recent.append(pseudonym)
        if len(recent) > 30:
            del recent[0]
        return pseudonym
