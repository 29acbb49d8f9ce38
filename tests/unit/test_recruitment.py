"""Emergency call list on a hand-built donor history: exactly the eligible donors (each
GB 18467 interval one day either side of its limit, age limits, a deferred donor, a reactive
history), repeat donors first, grouped by site, with the number to call."""

from __future__ import annotations

from datetime import date, timedelta

from models.recruitment import (
    PLATELETS,
    WHOLE,
    DonorRecord,
    PastDonation,
    call_list,
    ineligibility,
)
from models.rules import DonorRules

DAY = date(2026, 3, 1)
RULES = DonorRules()
ADULT = date(1990, 6, 1)


def donor(
    name: str,
    *gaps: tuple[int, str],
    birth: date = ADULT,
    group: str = "O+",
    site: str = "S1",
    **kw: object,
) -> DonorRecord:
    """A donor whose donations were ``days`` before the call day, of the given kinds."""
    return DonorRecord(
        f"ps_{name}",
        group,
        birth,
        [PastDonation(DAY - timedelta(days=d), k, site) for d, k in gaps],
        **kw,  # type: ignore[arg-type]
    )


def test_call_list_holds_exactly_the_eligible_donors_repeat_first() -> None:
    donors = [
        # whole -> whole 182 days
        donor("ww_at_limit", (182, WHOLE), (400, WHOLE), site="S2"),
        donor("ww_one_short", (181, WHOLE)),
        # platelets -> whole 28 days
        donor("pw_at_limit", (28, PLATELETS)),
        donor("pw_one_short", (27, PLATELETS)),
        # both kinds: the latest of each counts
        donor("mixed_short", (30, PLATELETS), (181, WHOLE)),
        # age: 18 on the day is in, 17 is out; a repeat donor up to 60, first-time up to 55
        donor("turns_18_today", birth=date(2008, 3, 1)),
        donor("turns_18_tomorrow", birth=date(2008, 3, 2)),
        donor("repeat_aged_60", (300, WHOLE), birth=date(1965, 6, 1)),
        donor("first_time_aged_56", birth=date(1969, 6, 1)),
        donor("repeat_aged_61", (300, WHOLE), birth=date(1964, 6, 1)),
        # deferrals: until tomorrow (out), ended today (in), permanent (out)
        donor(
            "deferred",
            (300, WHOLE),
            deferrals=[(DAY - timedelta(days=10), DAY + timedelta(days=1))],
        ),
        donor(
            "deferral_over", (300, WHOLE), deferrals=[(DAY - timedelta(days=90), DAY)], site="S2"
        ),
        donor("deferred_for_good", (300, WHOLE), deferrals=[(DAY - timedelta(days=400), None)]),
        donor("reactive", (300, WHOLE), (700, WHOLE), reactive=True),
        donor("other_group", (300, WHOLE), group="A+"),
    ]
    calls = call_list(donors, "O+", DAY, RULES, gap_units=3, turn_up_rate=0.5)
    names = [c.donor_id.removeprefix("ps_") for c in calls.candidates]
    assert set(names) == {
        "ww_at_limit",
        "pw_at_limit",
        "turns_18_today",
        "repeat_aged_60",
        "deferral_over",
    }
    # Repeat donors (two or more donations) first, then the most recent donation first.
    assert names[0] == "ww_at_limit"
    assert names[1:4] == ["pw_at_limit", "deferral_over", "repeat_aged_60"]
    assert names[4] == "turns_18_today"  # never donated: last
    assert calls.needed == 5  # ceil(3 / 0.5) = 6, capped at the 5 eligible
    assert {s: [c.donor_id for c in cs] for s, cs in calls.by_site().items()}["S2"] == [
        "ps_ww_at_limit",
        "ps_deferral_over",
    ]
    shown = calls.to_json()
    assert shown["eligible"] == 5 and shown["needed"] == 5
    assert all(d["donor_id"].startswith("ps_") for s in shown["sites"] for d in s["donors"])


def test_platelet_call_uses_the_platelet_intervals() -> None:
    assert ineligibility(donor("wp", (90, WHOLE)), DAY, RULES, PLATELETS) is None
    assert ineligibility(donor("wp", (89, WHOLE)), DAY, RULES, PLATELETS) is not None
    assert ineligibility(donor("pp", (14, PLATELETS)), DAY, RULES, PLATELETS) is None
    assert ineligibility(donor("pp", (13, PLATELETS)), DAY, RULES, PLATELETS) is not None
    many = donor("many", *[(15 * i + 14, PLATELETS) for i in range(24)])
    assert ineligibility(many, DAY, RULES, PLATELETS) == "platelet donations this year"
    fewer = donor("fewer", *[(15 * i + 14, PLATELETS) for i in range(23)])
    assert ineligibility(fewer, DAY, RULES, PLATELETS) is None


def test_no_gap_needs_no_calls() -> None:
    calls = call_list([donor("a", (300, WHOLE))], "O+", DAY, RULES, gap_units=0)
    assert calls.needed == 0 and len(calls.candidates) == 1
