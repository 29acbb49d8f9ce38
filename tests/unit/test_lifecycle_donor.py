"""Donor history: GB 18467 age and interval rules, and when a lookback is asked for."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from models.donor_history import DonorState, apply_note, min_gap_days
from models.rules import DonorRules

RULES = DonorRules()
DAY = 86_400_000
T0 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
DONOR = "ps_" + "a" * 32


def donation(din: str, day: float, kind: str = "whole_blood", **extra: Any) -> dict[str, Any]:
    return {
        "kind": "donation",
        "donor_id": DONOR,
        "din": din,
        "at": T0 + int(day * DAY),
        "facility_id": "BS01",
        "donation_kind": kind,
        "donor_age": extra.get("age", 30),
        "first_time": extra.get("first_time", False),
    }


def screen(din: str, day: float, result: str) -> dict[str, Any]:
    note: dict[str, Any] = {
        "kind": "screen",
        "donor_id": DONOR,
        "din": din,
        "at": T0 + int(day * DAY),
    }
    note.update(facility_id="BS01", result=result)
    if result == "reactive":
        note.update(markers=["anti-HIV"], confirmed_by="NAT", confirmed_at=note["at"] + DAY)
    return note


def fold(notes: list[dict[str, Any]]) -> tuple[DonorState, list[str], list[Any]]:
    state = None
    rules, requests = [], []
    for note in notes:
        state, alerts, request = apply_note(state, note, RULES)
        rules += [a.rule for a in alerts]
        if request:
            requests.append(request)
    assert state is not None
    return state, rules, requests


@pytest.mark.parametrize(
    ("first", "second", "days", "broken"),
    [
        ("whole_blood", "whole_blood", 181, True),
        ("whole_blood", "whole_blood", 182, False),
        ("apheresis_platelets", "apheresis_platelets", 13, True),
        ("apheresis_platelets", "apheresis_platelets", 14, False),
        ("apheresis_platelets", "whole_blood", 27, True),
        ("apheresis_platelets", "whole_blood", 28, False),
        ("whole_blood", "apheresis_platelets", 89, True),
        ("whole_blood", "apheresis_platelets", 90, False),
        ("apheresis_plasma", "whole_blood", 1, False),  # no published interval: no rule
    ],
)
def test_intervals(first: str, second: str, days: int, broken: bool) -> None:
    _, rules, _ = fold([donation("D1", 0, first), donation("D2", days, second)])
    assert rules == (["donation.interval"] if broken else [])


def test_a_late_arriving_earlier_donation_is_checked_against_the_later_one() -> None:
    _, rules, _ = fold([donation("D2", 100), donation("D1", 0)])
    assert rules == ["donation.interval"]


def test_interval_evidence_names_both_donations() -> None:
    state = None
    for note in (donation("D1", 0), donation("D2", 60)):
        state, alerts, _ = apply_note(state, note, RULES)
    (alert,) = alerts
    assert alert.evidence["other_din"] == "D1" and alert.evidence["min_days"] == 182
    assert alert.evidence["gap_days"] == 60.0 and alert.donor_id == DONOR
    assert "182" in alert.message_en and "182" in alert.message_zh


def test_age_limits_depend_on_being_a_repeat_donor() -> None:
    assert fold([donation("D1", 0, age=17, first_time=True)])[1] == ["donation.age"]
    assert fold([donation("D1", 0, age=18, first_time=True)])[1] == []
    assert fold([donation("D1", 0, age=57, first_time=True)])[1] == ["donation.age"]
    assert fold([donation("D1", 0, age=57, first_time=False)])[1] == []
    assert fold([donation("D1", 0, age=61, first_time=False)])[1] == ["donation.age"]
    # "first_time" unknown, but an earlier donation makes a repeat donor.
    assert fold([donation("D0", -400, age=54), donation("D1", 0, age=57, first_time=None)])[1] == []


def test_at_most_24_platelet_donations_a_year() -> None:
    notes = [donation(f"P{i}", i * 14, "apheresis_platelets") for i in range(25)]
    _, rules, _ = fold(notes)
    assert rules == ["donation.platelet_frequency"]  # the 25th within 365 days


def test_a_donation_seen_twice_is_checked_once() -> None:
    _, rules, _ = fold([donation("D1", 0), donation("D2", 60), donation("D2", 60)])
    assert rules == ["donation.interval"]


def test_a_confirmed_reactive_screen_asks_for_one_lookback() -> None:
    state, _, requests = fold(
        [
            donation("D1", 0),
            screen("D1", 0, "negative"),
            donation("D2", 200),
            screen("D2", 200, "reactive"),
            screen("D2", 200, "reactive"),
        ]
    )
    (request,) = requests
    assert (request.index_din, request.donor_id, request.markers) == ("D2", DONOR, ["anti-HIV"])
    assert request.index_at == T0 + 200 * DAY and request.detected_at == T0 + 201 * DAY
    assert [(d.din, d.screen) for d in state.donations] == [("D1", "negative"), ("D2", "reactive")]
    assert state.lookbacks == ["D2"]
    again = DonorState.from_bytes(DONOR, state.to_bytes())
    assert again == state


def test_min_gap_table() -> None:
    assert min_gap_days("whole_blood", "whole_blood", RULES) == 182
    assert min_gap_days("apheresis_plasma", "whole_blood", RULES) is None
