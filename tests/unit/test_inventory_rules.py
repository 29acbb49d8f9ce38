"""Inventory's pure rules: the unit fold, days of supply, levels, transitions, suggestions."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from models.inventory import (
    CITY,
    Fold,
    LevelReading,
    StockKey,
    Transition,
    UnitEvent,
    city_totals,
    evaluate,
    fold_unit,
    level_for,
    settle,
    suggest_destination,
    transitions,
)
from models.rules import ColdChainRules, InventoryRules, StorageRules

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
RULES = InventoryRules()
_ids = itertools.count()


def ev(event_type: str, hours: float, facility: str = "BS01", **fields: object) -> UnitEvent:
    n = next(_ids)
    return UnitEvent(
        event_id=f"e{n}",
        event_type=event_type,
        at=T0 + timedelta(hours=hours),
        facility_id=facility,
        din="G123426000001",
        order=n,
        **fields,  # type: ignore[arg-type]
    )


def fold(events: list[UnitEvent]) -> Fold:
    return fold_unit(events, StorageRules(), ColdChainRules())


def produced(hours: float, product: str, ctype: str) -> UnitEvent:
    return ev(
        "component.produced",
        hours,
        product_code=product,
        component_type=ctype,
        abo_rh="O+",
        expires_at=T0 + timedelta(days=35),
    )


def states(result: Fold) -> dict[str, tuple[str, str]]:
    return {c.product_code: (c.status, c.facility_id) for c in result.components}


def test_a_donation_becomes_components_released_shipped_and_issued() -> None:
    history = [
        ev("donation.collected", 0, abo_rh="O+"),
        produced(2, "E0336V00", "red_cells"),
        produced(2, "E2555V00", "plasma"),
    ]
    assert states(fold(history)) == {
        "": ("processed", "BS01"),
        "E0336V00": ("quarantined", "BS01"),
        "E2555V00": ("quarantined", "BS01"),
    }
    history.append(ev("unit.released", 24))
    assert states(fold(history))["E0336V00"] == ("available", "BS01")
    history.append(ev("unit.shipped", 30, product_code="E0336V00", to_facility_id="H1"))
    result = fold(history)
    assert states(result)["E0336V00"] == ("in_transit", "H1")
    assert [(o.kind, o.facility_id, o.component_type, o.abo_rh) for o in result.outflows] == [
        ("ship", "BS01", "red_cells", "O+")
    ]
    history.append(ev("unit.received", 31, facility="H1", product_code="E0336V00"))
    assert states(fold(history))["E0336V00"] == ("available", "H1")
    history.append(ev("unit.issued", 40, facility="H1"))  # no product code: all held here
    result = fold(history)
    assert states(result)["E0336V00"] == ("issued", "H1")
    # Without a product code the event names what H1 holds, not the plasma still at BS01.
    assert states(result)["E2555V00"] == ("available", "BS01")
    assert [(o.kind, o.facility_id) for o in result.outflows] == [("ship", "BS01"), ("issue", "H1")]


def test_returns_come_back_to_stock_only_within_the_time_limit() -> None:
    base = [
        ev("donation.collected", 0, abo_rh="A+"),
        produced(1, "E0336V00", "red_cells"),
        ev("unit.released", 2),
        ev("unit.issued", 3, facility="BS01"),
    ]
    back = fold([*base, ev("unit.returned", 3.4, minutes_out=20)])
    assert states(back)["E0336V00"] == ("available", "BS01")
    late = fold([*base, ev("unit.returned", 4, minutes_out=45)])
    assert states(late)["E0336V00"] == ("quarantined", "BS01")


def test_fold_is_order_independent_and_idempotent() -> None:
    history = [
        ev("donation.collected", 0, abo_rh="B-"),
        produced(1, "E0336V00", "red_cells"),
        ev("unit.released", 2),
        ev("unit.discarded", 5, product_code="E0336V00"),
    ]
    forward = fold(history)
    shuffled = fold([history[3], history[1], history[0], history[2], history[3]])
    assert (
        states(forward)
        == states(shuffled)
        == {
            "": ("processed", "BS01"),
            "E0336V00": ("discarded", "BS01"),
        }
    )
    assert forward.version == shuffled.version
    assert fold(history[:3]).version < forward.version


def test_unprocessed_whole_blood_is_stock_of_its_own() -> None:
    result = fold([ev("donation.collected", 0, abo_rh="AB+"), ev("unit.released", 1)])
    (whole,) = result.components
    assert (whole.component_type, whole.status) == ("whole_blood", "available")
    assert whole.expires_at == T0 + timedelta(days=35)


@pytest.mark.parametrize(
    ("days", "ctype", "level"),
    [
        (None, "red_cells", "normal"),
        (7.0, "red_cells", "normal"),
        (6.99, "red_cells", "tight"),
        (5.0, "red_cells", "tight"),
        (4.99, "red_cells", "short"),
        (3.0, "red_cells", "short"),
        (2.99, "red_cells", "critical"),
        (0.0, "plasma", "critical"),
        (3.0, "platelets", "normal"),
        (2.5, "platelets", "tight"),
        (1.5, "platelets", "short"),
        (0.99, "platelets", "critical"),
    ],
)
def test_levels(days: float | None, ctype: str, level: str) -> None:
    assert level_for(days, ctype, RULES) == level


def test_days_of_supply_and_city_totals() -> None:
    available = {("H1", "O+", "red_cells"): 10, ("H2", "O+", "red_cells"): 4}
    out = {("H1", "O+", "red_cells"): 7, ("H2", "O+", "red_cells"): 14}
    levels = evaluate(available, out, 7, RULES)
    assert levels[("H1", "O+", "red_cells")].days_of_supply == pytest.approx(10.0)
    assert levels[("H2", "O+", "red_cells")].days_of_supply == pytest.approx(2.0)
    assert levels[("H2", "O+", "red_cells")].level == "critical"
    stock, used = city_totals(available, out)
    city = evaluate(stock, used, 7, RULES)[(CITY, "O+", "red_cells")]
    assert (city.available, city.outflow) == (14, 21)
    assert city.days_of_supply == pytest.approx(14 / 3)
    assert city.level == "short"
    # Demand without stock is zero days; stock without demand has no figure.
    nothing = evaluate({("H3", "A-", "plasma"): 3}, {("H3", "B+", "plasma"): 1}, 14, RULES)
    assert nothing[("H3", "B+", "plasma")].days_of_supply == 0
    assert nothing[("H3", "A-", "plasma")].days_of_supply is None


def test_transitions_and_worse() -> None:
    key = ("H1", "O+", "red_cells")
    reading = LevelReading(4, 6, 7, "short")
    (change,) = transitions({key: "normal"}, {key: reading})
    assert change.worse and (change.previous, change.level) == ("normal", "short")
    assert transitions({key: "short"}, {key: reading}) == []
    (better,) = transitions({key: "critical"}, {key: reading})
    assert not better.worse
    (first,) = transitions({}, {key: reading})  # first sight counts from normal
    assert first.previous == "normal" and first.worse


def test_expiring_units_go_to_the_shortest_facility_of_the_same_city() -> None:
    rules = InventoryRules(facility_city={"H9": "other-city"})
    levels = {
        ("H1", "O+", "red_cells"): LevelReading(20, 7, 7, "normal"),
        ("H2", "O+", "red_cells"): LevelReading(4, 7, 7, "short"),
        ("H3", "O+", "red_cells"): LevelReading(2, 7, 7, "critical"),
        ("H9", "O+", "red_cells"): LevelReading(0, 7, 7, "critical"),
        ("H4", "A+", "red_cells"): LevelReading(0, 7, 7, "critical"),
        (CITY, "O+", "red_cells"): LevelReading(26, 21, 7, "critical"),
    }
    best = suggest_destination("H1", "O+", "red_cells", levels, rules)
    assert best is not None and best[0] == "H3"
    assert suggest_destination("H1", "B+", "red_cells", levels, rules) is None


def test_a_worse_level_is_recorded_at_once_a_better_one_after_the_hold() -> None:
    key = ("H1", "B+", "plasma")
    hold = timedelta(hours=24)
    improving: dict[StockKey, datetime] = {}

    def at_level(level: str, hours: float) -> list[Transition]:
        reading = LevelReading(0, 1, 7, level)
        return settle(recorded, {key: reading}, improving, T0 + timedelta(hours=hours), hold)

    recorded = {key: "normal"}
    (drop,) = at_level("critical", 0)  # the last unit issued: critical at once
    assert drop.worse and drop.level == "critical"
    recorded = {key: "critical"}
    assert at_level("normal", 1) == []  # one unit in: better, but not for long yet
    assert at_level("critical", 5) == []  # issued again: still the recorded level, no alert
    assert improving == {}
    assert at_level("normal", 6) == [] and at_level("tight", 20) == []  # better since hour 6
    (recovered,) = at_level("normal", 30)  # 24 h better: recorded
    assert not recovered.worse and recovered.level == "normal" and improving == {}
    # With no hold a recovery is recorded at once.
    assert settle({key: "critical"}, {key: LevelReading(1, 1, 7, "normal")}, {}, T0, timedelta(0))
