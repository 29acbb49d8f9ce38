"""The dashboard's pure parts: period filters and the speech sentences."""

from __future__ import annotations

from datetime import date

import pytest

from api.dashboard.queries import BadFilter, Period
from api.dashboard.speech import speech_sentences


def test_a_period_is_a_year_or_a_month() -> None:
    assert (Period.parse("2025").start, Period.parse("2025").end) == (
        date(2025, 1, 1),
        date(2026, 1, 1),
    )
    december = Period.parse("2024-12")
    assert (december.start, december.end) == (date(2024, 12, 1), date(2025, 1, 1))
    assert str(Period.parse(" 2025-6 ")) == "2025-06"
    assert Period.parse("2025-06").shifted_to(2020) == Period(2020, 6)


@pytest.mark.parametrize("text", ["June", "2025-13", "2025-00", "25", "2025-06-01", ""])
def test_a_bad_period_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(BadFilter, match="period"):
        Period.parse(text)


FIGURES = {
    "source": "marts",
    "year": 2024,
    "baseline_year": 2020,
    "figures": {
        "clinical_use_units": 52310.5,
        "clinical_use_growth_pct": 31.2,
        "collection_growth_pct": -4.5,
        "discarded_units": 812.0,
        "student_share_pct": {"2020": 35.0, "2024": 21.4},
        "employee_share_pct": {"2020": 30.0, "2024": 30.0},
        "ever_donated_pct": 8.25,
        "never_donated_pct": 91.75,
    },
}


def test_speech_sentences_fill_the_seed_blanks_in_chinese() -> None:
    lines = speech_sentences(FIGURES)
    assert lines[0] == "2024年,全市临床用血量达到52,310.5单位。"
    assert lines[1] == "2024年,全市临床用血量较2020年增长了31.2%,而同期血液采集量下降了4.5%。"
    assert "血液报废量达812.0单位" in lines[2]
    assert "比例从35.0%下降至21.4%" in lines[3] and "占比从30.0%保持在30.0%" in lines[3]
    assert lines[4] == (
        "在全市18-55周岁符合献血条件的人群中,仅有8.25%的人有过献血经历,超过91%的人从未参与过献血。"
    )


def test_speech_sentences_in_english() -> None:
    lines = speech_sentences(FIGURES, "en")
    assert lines[1] == "In 2024 clinical use grew 31.2% on 2020, while collection fell 4.5%."
    assert "students' share of donations fell to 21.4% (from 35.0%)" in lines[3]


def test_a_figure_the_marts_lack_leaves_its_sentence_out() -> None:
    sparse = {**FIGURES, "baseline_year": None, "figures": {"clinical_use_units": 10.0}}
    assert speech_sentences(sparse) == ["2024年,全市临床用血量达到10.0单位。"]
