"""The cold chain's pure rules: excursions, exposed units, silence, returns, unit places."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.coldchain import (
    Condition,
    Contents,
    Effects,
    Monitor,
    Movement,
    Reading,
    UnitPlaces,
    apply_movement,
    apply_reading,
    apply_unit_event,
    forget,
    reconcile,
    return_flag,
    silent_since,
)
from models.rules import ColdChainRules, StorageRules

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
STORAGE = StorageRules()
RULES = ColdChainRules()  # tolerance 30 min, return limit 30 min, silence 3 intervals


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def reading(
    minutes: float,
    temp: float,
    *,
    eq: str = "F1",
    kind: str = "fridge",
    agitating: bool | None = None,
) -> Reading:
    return Reading(eq, kind, "H1", at(minutes), temp, agitating, 300)


def enter(din: str, minutes: float, ctype: str | None = "red_cells", eq: str = "F1") -> Movement:
    return Movement("enter", eq, din, "E0336V00", ctype, at(minutes), "H1")


def leave(din: str, minutes: float, eq: str = "F1") -> Movement:
    return Movement("leave", eq, din, "E0336V00", None, at(minutes), "H1")


def feed(monitor: Monitor, contents: Contents, readings: list[Reading]) -> list[Effects]:
    out = []
    for r in readings:
        out.append(apply_reading(monitor, contents, r, STORAGE, RULES))
    return out


def test_condition_breaches_and_keys() -> None:
    cond = Condition(2, 6, False)
    assert cond.breaches(4, None) == []
    assert cond.breaches(6.5, None) == ["too_warm"]
    assert cond.breaches(1.9, None) == ["too_cold"]
    platelets = Condition(20, 24, True)
    assert platelets.breaches(22, False) == ["not_agitated"]
    assert platelets.breaches(22, None) == []  # unknown agitation is not a stop
    frozen = Condition(None, -18, False)
    assert frozen.breaches(-30, None) == [] and frozen.breaches(-10, None) == ["too_warm"]
    for c in (cond, platelets, frozen):
        assert Condition.from_key(c.key) == c
    assert cond.deviation(9) == 3 and cond.deviation(0) == 2 and cond.deviation(4) == 0


def test_excursion_within_tolerance_ends_without_flags() -> None:
    monitor, contents = Monitor("F1"), Contents()
    apply_movement(monitor, contents, enter("D1", -60))
    steps = feed(
        monitor,
        contents,
        [reading(0, 4), reading(5, 7.5), reading(10, 8.2), reading(15, 7.0), reading(20, 4.5)],
    )
    assert not any(s.flags or s.confirmed for s in steps)
    (excursion,) = steps[-1].excursions.values()
    assert excursion.status == "ended_within_tolerance"
    assert excursion.started_at == at(5) and excursion.ended_at == at(20)
    assert excursion.duration == timedelta(minutes=15)
    assert (excursion.peak_c, excursion.lowest_c, excursion.highest_c) == (8.2, 7.0, 8.2)
    assert excursion.readings_out == 3 and excursion.breaches == ["too_warm"]
    assert monitor.open == {}


def test_excursion_past_tolerance_flags_units_present_during_it() -> None:
    monitor, contents = Monitor("F1"), Contents()
    for m in (enter("IN1", -60), enter("IN2", -30), enter("LEFT", -90), leave("LEFT", -10)):
        apply_movement(monitor, contents, m)
    # Whole blood shares the red cells' rule: the same excursion.
    apply_movement(monitor, contents, enter("WB", -60, ctype="whole_blood"))
    temps = [4, 8, 8.5, 9, 9.5, 9, 8.5, 8, 7.5]  # out from minute 5 to 40
    steps = feed(monitor, contents, [reading(5 * i, t) for i, t in enumerate(temps)])
    confirming = [s for s in steps if s.confirmed]
    assert len(confirming) == 1
    (excursion,) = confirming[0].confirmed
    assert excursion.component_types == ["red_cells", "whole_blood"]
    # 30 minutes out is within tolerance; the reading at minute 40 (35 min) passes it.
    assert excursion.confirmed_at == at(40)
    assert {f.din for f in confirming[0].flags} == {"IN1", "IN2", "WB"}
    assert all(f.recommendation == "quarantine" for f in confirming[0].flags)
    assert excursion.peak_c == 9.5 and excursion.status == "confirmed"
    # Later readings while still out flag nobody twice.
    later = apply_reading(monitor, contents, reading(45, 8), STORAGE, RULES)
    assert later.flags == [] and later.confirmed == []
    # A unit stored during the confirmed excursion is flagged by the next reading still out…
    apply_movement(monitor, contents, enter("LATE", 47))
    assert reconcile(monitor, contents, STORAGE, RULES).flags == []  # (latest reading: 45)
    assert [
        f.din for f in apply_reading(monitor, contents, reading(50, 8), STORAGE, RULES).flags
    ] == ["LATE"]
    # …or by the reading that ends it.
    apply_movement(monitor, contents, enter("LATER", 52))
    ended = apply_reading(monitor, contents, reading(55, 4), STORAGE, RULES)
    # mypy keeps `status` narrowed to "confirmed" from the assert above; the reading changed it.
    assert [f.din for f in ended.flags] == ["LATER"] and excursion.status == "ended_confirmed"  # type: ignore[comparison-overlap]


def test_excursion_ending_after_a_long_gap_is_confirmed_at_its_end() -> None:
    monitor, contents = Monitor("F1"), Contents()
    apply_movement(monitor, contents, enter("D1", -5))
    steps = feed(monitor, contents, [reading(0, 9), reading(40, 4)])
    assert steps[1].confirmed and [f.din for f in steps[1].flags] == ["D1"]
    assert steps[1].confirmed[0].status == "ended_confirmed"


def test_late_movement_into_an_ended_confirmed_excursion_is_flagged() -> None:
    monitor, contents = Monitor("F1"), Contents()
    feed(monitor, contents, [reading(i * 5, 10) for i in range(9)] + [reading(45, 4)])
    assert monitor.ended and monitor.ended[0].confirmed
    # The movement saying D9 was stored at minute 10 arrives only now.
    assert apply_movement(monitor, contents, enter("D9", 10))
    step = reconcile(monitor, contents, STORAGE, RULES)
    assert [f.din for f in step.flags] == ["D9"] and step.excursions
    # The same movement again (a replay) changes nothing and flags nothing more.
    assert not apply_movement(monitor, contents, enter("D9", 10))
    assert reconcile(monitor, contents, STORAGE, RULES).flags == []
    # A unit stored after the excursion ended is not exposed.
    apply_movement(monitor, contents, enter("D10", 50))
    assert reconcile(monitor, contents, STORAGE, RULES).flags == []
    # Stored and taken out before it began, both learnt late in one batch: never flagged.
    apply_movement(monitor, contents, enter("D11", -90))
    apply_movement(monitor, contents, leave("D11", -30))
    quiet = reconcile(monitor, contents, STORAGE, RULES)
    assert quiet.flags == [] and quiet.withdrawn == []


def test_stopped_agitator_is_an_excursion_for_platelets_only() -> None:
    monitor, contents = Monitor("A1"), Contents()
    plt = Movement("enter", "A1", "P1", "E3085V00", "platelets", at(-10), "H1")
    apply_movement(monitor, contents, plt)
    readings = [
        reading(5 * i, 22, eq="A1", kind="platelet_agitator", agitating=i == 0) for i in range(9)
    ]
    steps = feed(monitor, contents, readings)
    confirmed = [e for s in steps for e in s.confirmed]
    assert len(confirmed) == 1 and confirmed[0].breaches == ["not_agitated"]
    assert [f.din for s in steps for f in s.flags] == ["P1"]


def test_replayed_reading_changes_nothing() -> None:
    monitor, contents = Monitor("F1"), Contents()
    feed(monitor, contents, [reading(0, 4), reading(5, 9)])
    before = monitor.to_dict()
    again = apply_reading(monitor, contents, reading(5, 9), STORAGE, RULES)
    assert again.excursions == {} and monitor.to_dict() == before


def test_state_round_trips_through_json_dicts() -> None:
    monitor, contents = Monitor("F1"), Contents()
    apply_movement(monitor, contents, enter("D1", 0))
    feed(monitor, contents, [reading(5 * i, 9) for i in range(9)])
    assert Monitor.from_dict("F1", monitor.to_dict()).to_dict() == monitor.to_dict()
    assert Contents.from_dict(contents.to_dict()).to_dict() == contents.to_dict()


def test_plasma_left_in_a_fridge_is_its_own_excursion() -> None:
    monitor, contents = Monitor("F1"), Contents()
    apply_movement(monitor, contents, enter("RBC", -60))
    apply_movement(monitor, contents, enter("FFP", -60, ctype="plasma"))
    steps = feed(monitor, contents, [reading(5 * i, 4) for i in range(8)])
    flagged = [f.din for s in steps for f in s.flags]
    assert flagged == ["FFP"]  # 4 °C is right for red cells, 22 degrees too warm for plasma
    (excursion,) = [e for s in steps for e in s.confirmed]
    assert excursion.condition_key == "..-18" and excursion.component_types == ["plasma"]


def test_empty_equipment_is_held_to_its_kind_default_rule() -> None:
    monitor, contents = Monitor("FZ1"), Contents()
    steps = feed(monitor, contents, [reading(0, -25, eq="FZ1", kind="freezer")])
    assert steps[0].excursions == {}
    step = apply_reading(
        monitor, contents, reading(5, -10, eq="FZ1", kind="freezer"), STORAGE, RULES
    )
    (excursion,) = step.excursions.values()
    assert excursion.component_types == ["plasma"]
    # A transport box with nothing known in it has no rule to break.
    box = Monitor("BOX")
    assert (
        apply_reading(
            box, Contents(), reading(0, 30, eq="BOX", kind="transport_box"), STORAGE, RULES
        ).excursions
        == {}
    )


def test_silence_is_judged_against_the_sensor_interval() -> None:
    monitor = Monitor("F1", "fridge", "H1", at(0), 300)
    assert not silent_since(monitor, at(15), RULES)  # exactly 3 intervals: still allowed
    assert silent_since(monitor, at(15.1), RULES)
    assert not silent_since(Monitor("NEW"), at(100), RULES)


def test_return_after_too_long_out_is_flagged_for_discard() -> None:
    assert return_flag("D1", "", 30, "H1", at(0), "ev1", RULES) is None
    flag = return_flag("D1", "", 45, "H1", at(0), "ev1", RULES)
    assert flag is not None and flag.recommendation == "discard"
    assert flag.exposed_from == at(-45)


def test_unit_places_become_movements() -> None:
    unit = UnitPlaces("D1")
    # A donation stored before it is processed: type unknown (the equipment's rule applies).
    moves = apply_unit_event(unit, "unit.stored", at(0), "BS01", "", equipment_id="F0")
    assert [(m.kind, m.equipment_id, m.component_type) for m in moves] == [("enter", "F0", None)]
    assert apply_unit_event(unit, "unit.shipped", at(1), "BS01", "")[0].kind == "leave"
    apply_unit_event(
        unit, "component.produced", at(60), "BS01", "E0336V00", component_type="red_cells"
    )
    moves = apply_unit_event(unit, "unit.stored", at(70), "BS01", "E0336V00", equipment_id="F1")
    assert [(m.kind, m.equipment_id, m.component_type) for m in moves] == [
        ("enter", "F1", "red_cells")
    ]
    moves = apply_unit_event(unit, "unit.stored", at(80), "BS01", "E0336V00", equipment_id="F2")
    assert [(m.kind, m.equipment_id, m.at) for m in moves] == [
        ("leave", "F1", at(80)),
        ("enter", "F2", at(80)),
    ]
    # Shipped without a product code: every place of the donation is left.
    moves = apply_unit_event(unit, "unit.shipped", at(90), "BS01", "")
    assert [(m.kind, m.equipment_id) for m in moves] == [("leave", "F2")]
    assert unit.places == {}
    assert UnitPlaces.from_dict("D1", unit.to_dict()).to_dict() == unit.to_dict()


def test_unit_stored_before_its_type_is_known_is_retyped() -> None:
    unit = UnitPlaces("D2")
    moves = apply_unit_event(unit, "unit.stored", at(0), "BS01", "E3085V00", equipment_id="A1")
    assert moves[0].component_type is None
    moves = apply_unit_event(
        unit, "component.produced", at(-5), "BS01", "E3085V00", component_type="platelets"
    )
    assert [(m.kind, m.component_type, m.at) for m in moves] == [("enter", "platelets", at(0))]
    monitor, contents = Monitor("A1", "platelet_agitator"), Contents()
    apply_movement(monitor, contents, Movement("enter", "A1", "D2", "E3085V00", None, at(0)))
    assert apply_movement(monitor, contents, moves[0])  # same stay, type learnt
    assert contents.stays["D2|E3085V00"].component_type == "platelets"


def test_departed_units_are_forgotten_after_the_retention_excursions_by_number() -> None:
    monitor, contents = Monitor("F1"), Contents()
    apply_movement(monitor, contents, enter("OLD", 0))
    apply_movement(monitor, contents, leave("OLD", 10))
    feed(monitor, contents, [reading(5 * i, 9) for i in range(9)] + [reading(45, 4)])
    assert monitor.ended and monitor.ended[0].confirmed
    forget(monitor, contents, at(10 + 47 * 60), RULES)  # 47 h after it left: kept
    assert "OLD|E0336V00" in contents.stays
    forget(monitor, contents, at(10 + 49 * 60), RULES)
    assert contents.stays == {}
    # Ended excursions are kept however old (movements may lag days behind readings)…
    assert len(monitor.ended) == 1
    # …up to a number: the oldest go first.
    few = RULES.model_copy(update={"ended_excursions_kept": 2})
    for day in range(1, 4):
        base = day * 24 * 60
        feed(
            monitor,
            contents,
            [reading(base + 5 * i, 9) for i in range(9)] + [reading(base + 45, 4)],
        )
    forget(monitor, contents, at(4 * 24 * 60), few)
    assert [e.started_at for e in monitor.ended] == [at(2 * 24 * 60), at(3 * 24 * 60)]


def test_a_late_departure_withdraws_a_flag_it_disproves() -> None:
    monitor, contents = Monitor("F1"), Contents()
    # The readings run ahead: D1 still looks present when the excursion is confirmed…
    apply_movement(monitor, contents, enter("D1", -120))
    apply_movement(monitor, contents, enter("D2", -120))
    steps = feed(monitor, contents, [reading(5 * i, 9) for i in range(9)])
    assert sorted(f.din for s in steps for f in s.flags) == ["D1", "D2"]
    (excursion,) = monitor.open.values()
    # …then its movement arrives: it left an hour before the excursion began.
    apply_movement(monitor, contents, leave("D1", -60))
    step = reconcile(monitor, contents, STORAGE, RULES)
    assert [f.din for f in step.withdrawn] == ["D1"]
    assert excursion.flagged == ["D2|E0336V00"] and excursion.excursion_id in step.excursions
    # A unit that left during the excursion stays flagged.
    apply_movement(monitor, contents, leave("D2", 20))
    assert reconcile(monitor, contents, STORAGE, RULES).withdrawn == []
