"""A donor's donation history and the donor rules checked on each new donation (pure).

The lifecycle processor keeps one :class:`DonorState` per donor pseudonym in a Faust table fed
by donor-keyed notes (models.lifecycle.DonorNote). A donation is checked against GB 18467-2011
(settings section ``donor``): age 18–55 (repeat donors up to 60); whole blood → whole blood
≥ 6 months, platelets → platelets ≥ 2 weeks and ≤ 24 a year, platelets → whole blood ≥ 4 weeks,
whole blood → platelets ≥ 3 months. Donations arrive in any order, so a new one is checked
against its nearest neighbours of each kind on both sides. A confirmed reactive screen asks
for a lookback, once per index donation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from models.alerts import Alert
from models.rules import DonorRules

DAY_MS = 86_400_000
_KIND = {"whole_blood": "whole", "apheresis_platelets": "platelets"}
_KIND_ZH = {"whole": "全血", "platelets": "单采血小板"}


@dataclass
class DonationRecord:
    din: str
    kind: str  # donation kind (whole_blood, apheresis_platelets, apheresis_plasma) or ""
    at: int  # collected, epoch ms
    age: int | None = None
    first_time: bool | None = None
    screen: str = ""  # "", "negative", "reactive"

    def to_json(self) -> list[Any]:
        return [self.din, self.kind, self.at, self.age, self.first_time, self.screen]


@dataclass
class DonorState:
    donor_id: str
    donations: list[DonationRecord] = field(default_factory=list)  # in collection order
    lookbacks: list[str] = field(default_factory=list)  # index DINs a lookback was opened for

    def find(self, din: str) -> DonationRecord | None:
        return next((d for d in self.donations if d.din == din), None)

    def to_bytes(self) -> bytes:
        return orjson.dumps({"d": [d.to_json() for d in self.donations], "l": self.lookbacks})

    @classmethod
    def from_bytes(cls, donor_id: str, raw: bytes) -> DonorState:
        data = orjson.loads(raw)
        return cls(donor_id, [DonationRecord(*row) for row in data["d"]], data["l"])


@dataclass(frozen=True)
class LookbackRequest:
    donor_id: str
    index_din: str
    index_at: int  # when the index donation was collected
    markers: list[str]
    confirmed_by: str
    detected_at: int  # when the confirming test was done
    facility_id: str


def min_gap_days(before: str, after: str, rules: DonorRules) -> int | None:
    """Days required between a donation of kind ``before`` and the next of kind ``after``."""
    pair = (_KIND.get(before), _KIND.get(after))
    return {
        ("whole", "whole"): rules.whole_to_whole_min_days,
        ("platelets", "platelets"): rules.platelets_to_platelets_min_days,
        ("platelets", "whole"): rules.platelets_to_whole_min_days,
        ("whole", "platelets"): rules.whole_to_platelets_min_days,
    }.get(pair)  # type: ignore[arg-type]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _alert(
    rule: str, new: DonationRecord, donor_id: str, facility: str, en: str, zh: str, **evidence: Any
) -> Alert:
    return Alert(
        rule=rule,
        severity="warning",
        subject=new.din,
        message_en=en,
        message_zh=zh,
        occurred_at=datetime.fromtimestamp(new.at / 1000, UTC),
        din=new.din,
        facility_id=facility,
        donor_id=donor_id,
        evidence={"donation_kind": new.kind, "collected_at": _iso(new.at), **evidence},
        dedup_key=str(evidence.get("other_din", "")),
    )


def check_donation(
    state: DonorState, new: DonationRecord, rules: DonorRules, facility: str
) -> list[Alert]:
    """The donor rules a new donation breaks, given the donor's other donations."""
    alerts: list[Alert] = []
    others = [d for d in state.donations if d.din != new.din]
    repeat = new.first_time is False or any(d.at < new.at for d in others)
    if new.age is not None:
        limit = rules.max_age_repeat_donor_years if repeat else rules.max_age_years
        if new.age < rules.min_age_years or new.age > limit:
            who = "repeat" if repeat else "first-time"
            alerts.append(
                _alert(
                    "donation.age",
                    new,
                    state.donor_id,
                    facility,
                    f"Donation {new.din}: a {who} donor aged {new.age} is outside "
                    f"{rules.min_age_years}–{limit} years.",
                    f"献血 {new.din}：{'再次' if repeat else '首次'}献血者年龄 {new.age} 岁，"
                    f"超出 {rules.min_age_years}–{limit} 岁。",
                    age=new.age,
                    min_age=rules.min_age_years,
                    max_age=limit,
                    repeat_donor=repeat,
                )
            )
    # Nearest donation of each kind on each side.
    neighbours: dict[tuple[str, str], DonationRecord] = {}
    for other in others:
        side = "before" if other.at <= new.at else "after"
        key = (side, _KIND.get(other.kind, other.kind))
        best = neighbours.get(key)
        if best is None or abs(other.at - new.at) < abs(best.at - new.at):
            neighbours[key] = other
    for (side, _), other in sorted(neighbours.items(), key=lambda kv: kv[1].at):
        first, second = (other, new) if side == "before" else (new, other)
        need = min_gap_days(first.kind, second.kind, rules)
        if need is None:
            continue
        gap_days = (second.at - first.at) / DAY_MS
        if gap_days >= need:
            continue
        a, b = _KIND[first.kind], _KIND[second.kind]
        alerts.append(
            _alert(
                "donation.interval",
                new,
                state.donor_id,
                facility,
                f"Donation {new.din}: {gap_days:.0f} days between a {a} donation "
                f"({first.din}, {_iso(first.at)[:10]}) and a {b} donation ({second.din}, "
                f"{_iso(second.at)[:10]}); at least {need} days are required.",
                f"献血 {new.din}：{_KIND_ZH[a]}献血（{first.din}）与{_KIND_ZH[b]}献血"
                f"（{second.din}）间隔 {gap_days:.0f} 天，少于规定的 {need} 天。",
                other_din=other.din,
                other_collected_at=_iso(other.at),
                gap_days=round(gap_days, 1),
                min_days=need,
                interval_rule=f"{a}_to_{b}",
            )
        )
    if _KIND.get(new.kind) == "platelets":
        year_ago = new.at - 365 * DAY_MS
        count = 1 + sum(
            1 for d in others if _KIND.get(d.kind) == "platelets" and year_ago < d.at <= new.at
        )
        if count > rules.platelets_max_per_year:
            alerts.append(
                _alert(
                    "donation.platelet_frequency",
                    new,
                    state.donor_id,
                    facility,
                    f"Donation {new.din}: {count} platelet donations in 12 months; at most "
                    f"{rules.platelets_max_per_year} are allowed.",
                    f"献血 {new.din}：12 个月内单采血小板 {count} 次，超过上限 "
                    f"{rules.platelets_max_per_year} 次。",
                    count=count,
                    max_per_year=rules.platelets_max_per_year,
                )
            )
    return alerts


def apply_note(
    state: DonorState | None, note: dict[str, Any], rules: DonorRules
) -> tuple[DonorState, list[Alert], LookbackRequest | None]:
    """Fold one donor note (a donation, or a donation's screening outcome) into the history."""
    donor_id = str(note["donor_id"])
    state = state or DonorState(donor_id)
    din = str(note["din"])
    record = state.find(din)
    alerts: list[Alert] = []
    if note["kind"] == "donation":
        if record is None or not record.kind:
            new = record or DonationRecord(din, "", int(note["at"]))
            new.kind = str(note.get("donation_kind") or "")
            new.at = int(note["at"])
            new.age = note.get("donor_age")
            new.first_time = note.get("first_time")
            alerts = check_donation(state, new, rules, str(note.get("facility_id", "")))
            if record is None:
                state.donations.append(new)
            state.donations.sort(key=lambda d: d.at)
        return state, alerts, None
    # A screening outcome.
    if record is None:
        record = DonationRecord(din, "", int(note["at"]))
        state.donations.append(record)
        state.donations.sort(key=lambda d: d.at)
    result = str(note.get("result", ""))
    if result == "reactive":
        record.screen = "reactive"
        if din not in state.lookbacks:
            state.lookbacks.append(din)
            return (
                state,
                alerts,
                LookbackRequest(
                    donor_id=donor_id,
                    index_din=din,
                    index_at=record.at,
                    markers=list(note.get("markers") or []),
                    confirmed_by=str(note.get("confirmed_by", "")),
                    detected_at=int(note.get("confirmed_at") or note["at"]),
                    facility_id=str(note.get("facility_id", "")),
                ),
            )
    elif result == "negative" and record.screen != "reactive":
        record.screen = "negative"
    return state, alerts, None
