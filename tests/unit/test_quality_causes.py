"""Wastage cause derivation, time windows and finding sentences: pure functions, no warehouse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from expectations.causes import (
    CAUSE_NAMES,
    Evidence,
    cause_from_text,
    derive_cause,
    is_under_volume,
    nominal_volume,
)
from expectations.checks import sentence
from expectations.screening import gaps_text, screening_gaps
from expectations.suites import all_suites
from expectations.window import Window, parse_since
from infra.errors import ConfigError
from infra.settings import Settings

T = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)


def excursion(at: datetime) -> Evidence:
    return Evidence("cold_chain_breach", at, "temperature_readings", {"equipment_id": "FR02"})


def test_expired_label_hides_an_earlier_excursion() -> None:
    verdict = derive_cause(
        "expired",
        T + 48 * H,
        [excursion(T + 10 * H), Evidence("expired", T + 40 * H, "components")],
    )
    assert verdict.derived == "cold_chain_breach"
    assert verdict.status == "mismatch"
    assert [e.cause for e in verdict.evidence] == ["cold_chain_breach", "expired"]


def test_recorded_cause_backed_by_the_earliest_evidence_agrees() -> None:
    verdict = derive_cause("expired", T + 48 * H, [Evidence("expired", T + 40 * H, "components")])
    assert (verdict.derived, verdict.status) == ("expired", "agrees")


def test_discard_before_expiry_recorded_as_expired_is_unsupported() -> None:
    # The expiry is after the discard, so it cannot be why the unit was thrown away.
    verdict = derive_cause("expired", T + 10 * H, [Evidence("expired", T + 40 * H, "components")])
    assert verdict.derived is None
    assert verdict.status == "unsupported"
    assert verdict.cause == "expired"  # wastage statistics fall back to the record


def test_inspection_causes_are_their_own_evidence() -> None:
    verdict = derive_cause("lipemia", T, [])
    assert (verdict.derived, verdict.status) == ("lipemia", "agrees")
    assert verdict.evidence[0].source == "discards"


def test_a_reactive_test_before_an_inspection_discard_is_the_cause() -> None:
    reactive = Evidence("test_reactive", T - 5 * H, "test_results", {"markers": ["HBsAg"]})
    verdict = derive_cause("lipemia", T, [reactive])
    assert (verdict.derived, verdict.status) == ("test_reactive", "mismatch")
    assert "HBsAg" in verdict.describe("en") and "HBsAg" in verdict.describe("zh")


def test_on_a_tie_the_recorded_cause_wins_then_the_graver() -> None:
    both = [Evidence("expired", T, "components"), excursion(T)]
    assert derive_cause("expired", T, both).derived == "expired"
    assert derive_cause("other", T, both).derived == "cold_chain_breach"


def test_other_without_evidence_is_unexplained() -> None:
    verdict = derive_cause("other", T, [])
    assert verdict.status == "unexplained"
    assert verdict.describe("en") == "no evidence"


def test_every_discard_cause_has_names_in_both_languages() -> None:
    for en, zh in CAUSE_NAMES.values():
        assert en and zh and en != zh


@pytest.mark.parametrize(
    ("volume", "nominal", "under"),
    [
        (400, 400, False),
        (380, 400, False),
        (350, 400, True),
        (305, 300, False),
        (250, 300, True),
        (190, 200, False),
        (170, 200, True),
        (220, 200, False),
    ],
)
def test_under_volume_against_the_nearest_bag(volume: int, nominal: int, under: bool) -> None:
    assert nominal_volume(volume, [200, 300, 400]) == nominal
    assert is_under_volume(volume, [200, 300, 400], 0.10) is under


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("Lipemic plasma", "lipemia"),
        ("乳糜血", "lipemia"),
        ("haemolysed sample", "hemolysis"),
        ("溶血", "hemolysis"),
        ("bag leaking at the seam", "bag_leak"),
        ("血袋破损", "bag_leak"),
        ("small clots seen", "clot"),
        ("QC failure: low factor VIII", "qc_failure"),
        ("awaiting confirmation", None),
    ],
)
def test_inspection_words_in_reasons_and_notes(text: str, cause: str | None) -> None:
    assert cause_from_text(text) == cause


def test_excursion_evidence_explains_itself() -> None:
    e = Evidence(
        "cold_chain_breach",
        T,
        "temperature_readings",
        {
            "equipment_id": "FR02",
            "started_at": T - 30 * timedelta(minutes=1),
            "minutes": 90.0,
            "min_temperature_c": 9.5,
            "max_temperature_c": 10.5,
            "range": "2–6 °C",
        },
    )
    assert (
        e.describe("en")
        == "90 min outside 2–6 °C in FR02 from 2026-03-01 07:30 UTC (readings 9.5 to 10.5 °C)"
    )
    assert "FR02" in e.describe("zh") and "90 分钟" in e.describe("zh")
    assert e.to_json()["detail"]["started_at"] == "2026-03-01T07:30:00+00:00"


def test_parse_since() -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert parse_since(None) is None
    assert parse_since("24h", now=now) == now - 24 * H
    assert parse_since("7d", now=now) == now - timedelta(days=7)
    assert parse_since("90m", now=now) == now - timedelta(minutes=90)
    assert parse_since("2026-03-01") == T - 8 * H
    assert parse_since("2026-03-01T08:00:00Z") == T
    assert parse_since("2026-03-01T16:00:00+08:00") == T
    with pytest.raises(ConfigError, match="neither a date"):
        parse_since("last tuesday")


def test_window_predicates() -> None:
    end = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert Window("all", end).predicate() == (
        "ingested_at <= toDateTime64('2026-03-10 12:00:00.000', 3, 'UTC')"
    )
    incremental = Window("incremental", end, T).predicate("e")
    assert "e.ingested_at > toDateTime64('2026-03-01 08:00:00.000', 3, 'UTC')" in incremental
    since = Window("since", end, T)
    assert since.column == "occurred_at"
    assert "occurred_at >= toDateTime64('2026-03-01 08:00:00.000', 3, 'UTC')" in since.predicate()


def test_sentences_format_rows_and_survive_unknown_columns() -> None:
    text = sentence(
        "Unit {din} released on {released_at}; {nothing}.",
        {"din": "G123426000001", "released_at": T},
    )
    assert text == "Unit G123426000001 released on 2026-03-01 08:00 UTC; ?."


def test_suites_are_well_formed() -> None:
    suites = all_suites(Settings())
    names = [c.name for s in suites for c in s.checks]
    assert len(names) == len(set(names))
    tables = {s.name for s in suites}
    assert {"events", "donations", "test_results", "components", "discards"} <= tables
    assert {"release_screening", "units", "disposition", "wastage", "freshness"} <= tables
    for suite in suites:
        for check in suite.checks:
            assert check.name.startswith(suite.name + ".")
            assert check.severity in ("critical", "warning", "info")
            assert check.en.endswith(".") and check.zh.endswith("。")
            assert "{" in check.en and "{" in check.zh  # every sentence names what failed


def test_suites_follow_the_rules_in_the_settings() -> None:
    settings = Settings()
    settings.screening.serology_markers.append("anti-HTLV")
    settings.quality.freshness_max_silence_hours = 12
    checks = {c.name: c for s in all_suites(settings) for c in s.checks}
    assert "anti-HTLV" in checks["test_results.marker_allowed"].kwargs["value_set"]
    assert checks["freshness.facility_reporting"].kwargs["max_value"] == 12
    assert "12" in checks["freshness.facility_reporting"].en


def test_screening_gaps_in_words() -> None:
    gaps = screening_gaps(["anti-HIV#2"], ["HBV-DNA"])
    assert gaps == [("anti-HIV", 2), ("HBV-DNA", 0)]
    assert gaps_text(gaps, "en") == "anti-HIV (round 2), HBV-DNA (NAT)"
    assert gaps_text(gaps, "zh") == "anti-HIV（第2轮）、HBV-DNA（核酸检测）"
    assert gaps_text(screening_gaps(["ALT#1", "ALT#2"], []), "en") == "ALT (rounds 1, 2)"
    assert screening_gaps([], []) == []


def test_an_agitation_stop_is_named_as_the_breach() -> None:
    e = Evidence(
        "cold_chain_breach",
        T,
        "temperature_readings",
        {"equipment_id": "H01-AG01", "started_at": T, "minutes": 45.0, "range": "20–24 °C",
         "range_zh": "20–24 °C 持续振荡", "breaches": ["not_agitated"],
         "min_temperature_c": 22.0, "max_temperature_c": 22.4},
    )  # fmt: skip
    assert "agitation stopped" in e.describe("en")
    assert "振荡停止" in e.describe("zh") and "持续振荡" in e.describe("zh")
