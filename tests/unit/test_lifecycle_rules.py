"""The unit state machine and the safety rules (models.lifecycle), event by event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lifecycle_scenario import (
    DONOR,
    INDEX_DIN,
    PLASMA,
    RECIPIENT,
    RED,
    SPLIT_DIN,
    alert_units,
    collected,
    h,
    lab_result,
    produced,
    reactive_donation,
    split_unit,
    unit_event,
)

from models.alerts import Alert
from models.lifecycle import (
    DonorNote,
    Policy,
    UnitState,
    apply,
    fact_from_wire,
    fold,
    lost_items,
    lost_unit_alert,
    to_ms,
)
from models.rules import LifecycleRules

POLICY = Policy()


def run(events: list[dict[str, Any]]) -> tuple[UnitState, list[Alert], list[DonorNote]]:
    """Apply events in arrival order, as the processor does."""
    state = None
    alerts: list[Alert] = []
    notes: list[DonorNote] = []
    for event in events:
        fact = fact_from_wire(event)
        if fact is None:
            continue
        state, out = apply(state, fact, POLICY)
        alerts += out.alerts
        notes += out.notes
    assert state is not None
    return state, alerts, notes


def unit_events(events: list[dict[str, Any]], din: str) -> list[dict[str, Any]]:
    return [e for e in events if e["payload"].get("din") == din]


def test_split_unit_ends_transfused_and_in_stock_without_alerts() -> None:
    state, alerts, notes = run(unit_events(split_unit(), SPLIT_DIN))
    assert alerts == []
    assert state.donor_id == DONOR and state.screening(2) == "negative"
    assert state.donation.status == "processed"
    red, plasma = state.items[RED], state.items[PLASMA]
    assert (red.status, red.holder, red.recipient) == ("transfused", "H01", RECIPIENT)
    assert (plasma.status, plasma.holder, plasma.in_transit) == ("available", "H02", False)
    # The donor side hears of the donation, then of its negative screen, once each.
    assert [(n.kind, n.data.get("result")) for n in notes] == [
        ("donation", None),
        ("screen", "negative"),
    ]


def test_statuses_along_the_way() -> None:
    events = unit_events(split_unit(), SPLIT_DIN)
    seen = []
    state = None
    for event in events:
        fact = fact_from_wire(event)
        assert fact is not None
        state, _ = apply(state, fact, POLICY)
        if fact.product_code == RED or not fact.product_code:
            seen.append(state.items[RED].status if RED in state.items else state.donation.status)
    assert seen == [
        "quarantined",  # collected
        "quarantined",  # red cells produced, tests pending
        "quarantined",  # round 1
        "quarantined",  # round 2
        "available",  # released
        "available",  # stored
        "available",  # shipped
        "available",  # received
        "reserved",  # crossmatched
        "issued",
        "transfused",
    ]


def test_reactive_donation_is_unsafe_and_confirmed_by_nat() -> None:
    state, alerts, notes = run(reactive_donation())
    assert alerts == []
    assert state.items[RED].status == "unsafe"
    assert state.confirmed == ["HIV-RNA", "anti-HIV"] and state.confirmed_by == "NAT"
    screen = [n for n in notes if n.kind == "screen"]
    assert len(screen) == 1 and screen[0].data["result"] == "reactive"
    assert screen[0].din == INDEX_DIN[:13]


def test_round_one_reactivity_alone_is_not_confirmed() -> None:
    state, _, notes = run(reactive_donation()[:3])
    assert state.reactive == ["anti-HIV"] and state.confirmed == []
    assert all(n.kind == "donation" for n in notes)


def test_alt_alone_never_confirms_an_infection() -> None:
    din = INDEX_DIN
    events = [
        collected(din, h(0)),
        unit_event(
            "test.result_recorded",
            din,
            h(5),
            round=2,
            results=[{"marker": "ALT", "method": "rate", "reactive": True, "value": 90.0}],
        ),
    ]
    state, _, notes = run(events)
    assert state.reactive == ["ALT"] and state.confirmed == []
    assert state.donation.status == "unsafe"
    assert [n.kind for n in notes] == ["donation"]
    # With round 1 negative too, the donation is infection-negative (the lookback window's
    # "last negative donation"), though never usable.
    state, _, notes = run([*events, lab_result(din, h(3), 1)])
    assert state.screening(2) == "reactive"
    assert state.infection_screening(POLICY.screening.infectious_markers, 2) == "negative"
    assert [(n.kind, n.data.get("result")) for n in notes] == [
        ("donation", None),
        ("screen", "negative"),
    ]


@pytest.mark.parametrize(
    "rule", sorted(set(alert_units()) - {"unit.lost", "donation.interval", "donation.age"})
)
def test_each_unit_rule_raises_its_alert(rule: str) -> None:
    events = alert_units()[rule]
    _, alerts, _ = run(events)
    assert [a.rule for a in alerts] == [rule]
    alert = alerts[0]
    assert alert.message_en and alert.message_zh and alert.evidence["event_id"]
    assert alert.din == events[0]["payload"]["din"][:13]


def test_the_evidence_says_what_broke() -> None:
    cases = alert_units()
    _, (abo,), _ = run(cases["transfusion.abo_incompatible"])
    assert abo.evidence["component_abo_rh"] == "A+" and abo.evidence["recipient_abo_rh"] == "O+"
    assert abo.evidence["problem"] == "ABO" and abo.product_code == RED
    _, (expired,), _ = run(cases["unit.issued_expired"])
    assert expired.evidence["expires_at"] == "2026-03-08T10:00:00Z"
    _, (volume,), _ = run(cases["component.volume_exceeds_donation"])
    assert volume.evidence["components_volume_ml"] == 650
    assert volume.evidence["donation_volume_ml"] == 400
    _, (order,), _ = run(cases["unit.impossible_order"])
    assert (order.evidence["earlier"], order.evidence["later"]) == ("received", "transfused")
    _, (unreleased,), _ = run(cases["unit.issued_unreleased"])
    assert unreleased.evidence["released_at"] is None
    _, (reactive,), _ = run(cases["unit.issued_reactive"])
    assert reactive.evidence["reactive_markers"] == ["anti-TP"]


def test_released_reactive_unit_is_an_alert_and_stays_unsafe() -> None:
    collect, release, test, _ = alert_units()["unit.issued_reactive"]
    state, alerts, _ = run([collect, test, release])
    assert [a.rule for a in alerts] == ["unit.released_reactive"]
    assert state.donation.status == "unsafe"


def test_a_late_reactive_result_on_a_transfused_unit_is_an_alert() -> None:
    events = [
        *unit_events(split_unit(), SPLIT_DIN),
        lab_result(SPLIT_DIN, h(24 * 10), 3, reactive=("anti-HCV",)),
    ]
    state, alerts, _ = run(events)
    assert [a.rule for a in alerts] == ["unit.issued_reactive"]
    assert alerts[0].evidence["recipient_id"] == RECIPIENT
    assert state.items[RED].status == "transfused"  # the bag is gone: nothing changes that
    assert state.items[PLASMA].status == "unsafe"  # the plasma in stock is no longer usable


def test_events_before_the_donation_are_impossible_whatever_the_arrival_order() -> None:
    din = SPLIT_DIN
    early = produced(din, RED, "red_cells", 280, h(-5), 35)
    for events in ([collected(din, h(0)), early], [early, collected(din, h(0))]):
        _, alerts, _ = run(events)
        assert [a.rule for a in alerts] == ["unit.impossible_order"]


def test_anything_after_a_final_disposition_is_impossible_except_a_reaction() -> None:
    events = unit_events(split_unit(), SPLIT_DIN)
    reaction = unit_event(
        "transfusion.reaction_reported",
        SPLIT_DIN,
        h(51),
        "H01",
        product_code=RED,
        recipient_id=RECIPIENT,
        category="febrile",
    )
    again = unit_event("unit.issued", SPLIT_DIN, h(60), "H01", product_code=RED, ward="ER")
    _, alerts, _ = run([*events, reaction])
    assert alerts == []
    _, alerts, _ = run([*events, reaction, again])
    assert [a.rule for a in alerts] == ["unit.impossible_order"]
    assert alerts[0].evidence["earlier"] == "transfused"


def test_an_event_delivered_twice_is_folded_once() -> None:
    events = unit_events(split_unit(), SPLIT_DIN)
    state, alerts, notes = run(events + events[-6:])
    assert alerts == [] and len(notes) == 2
    assert state.items[RED].status == "transfused"


def test_a_late_event_does_not_move_the_status_back() -> None:
    events = unit_events(split_unit(), SPLIT_DIN)
    transfused_first = [e for e in events if e["type"] != "crossmatch.performed"]
    crossmatch = next(e for e in events if e["type"] == "crossmatch.performed")
    state, _, _ = run([*transfused_first, crossmatch])
    assert state.items[RED].status == "transfused"


def test_fold_sorts_by_time_and_matches_arrival_order_fold() -> None:
    events = unit_events(split_unit(), SPLIT_DIN)
    by_arrival, _, _ = run(events)
    facts = [fact_from_wire(e) for e in reversed(events)]
    folded, alerts = fold([f for f in facts if f], POLICY)
    assert folded is not None and alerts == []
    assert {c: i.status for c, i in folded.items.items()} == {
        c: i.status for c, i in by_arrival.items.items()
    }


def test_state_survives_serialisation() -> None:
    state, _, _ = run(unit_events(split_unit(), SPLIT_DIN))
    again = UnitState.from_bytes(state.din, state.to_bytes())
    assert again == state
    assert len(state.to_bytes()) < 1500  # small: one per unit in a Faust table


def test_lost_items_after_expiry_and_grace() -> None:
    state, _, _ = run(alert_units()["unit.lost"])
    expiry = state.items[RED].expires_at
    day = 86_400_000
    assert lost_items(state, expiry + 6 * day, POLICY) == []
    (lost,) = lost_items(state, expiry + 8 * day, POLICY)
    assert lost.code == RED
    alert = lost_unit_alert(state, lost, expiry + 8 * day, POLICY)
    assert alert.rule == "unit.lost" and alert.evidence["last_status"] == "available"
    shorter = Policy(lifecycle=LifecycleRules(lost_unit_after_expiry_days=1))
    assert lost_items(state, expiry + 2 * day, shorter) != []
    transfused, _, _ = run(alert_units()["unit.issued_expired"])
    assert lost_items(transfused, to_ms(datetime.now(UTC) + timedelta(days=999)), POLICY) == []


def test_non_unit_events_are_ignored() -> None:
    reading = {
        "event_id": "x",
        "type": "storage.temperature_recorded",
        "occurred_at": "2026-01-01T00:00:00Z",
        "payload": {"equipment_id": "FR-01"},
    }
    assert fact_from_wire(reading) is None


def test_events_whose_ids_share_a_prefix_are_both_folded() -> None:
    """A unit remembered an event by the first 12 hex digits of its id: ids that share them
    (sequential UUIDs, UUIDv7 made in the same millisecond) were taken for one event, and the
    second was dropped (the table-state SIGKILL test's unit lost its donation that way)."""
    donation = collected(INDEX_DIN, h(0)) | {"event_id": "00000000-0000-4000-8000-000000000001"}
    tested = lab_result(INDEX_DIN, h(2), 1) | {"event_id": "00000000-0000-4000-8000-000000000002"}
    state, _, _ = run([donation, tested])
    assert state.donor_id == DONOR and len(state.recent) == 2
    assert state.to_bytes() != run([donation])[0].to_bytes()
