"""The speech figures as sentences a leader can read out (the first seed's blanks, filled).

``speech_sentences(speech, lang)`` turns the figures of MartQueries.speech_figures (from the
speech_figures_by_year mart, or computed from the other marts) into sentences in Chinese
(default) or English. A figure the marts cannot give yet leaves its sentence out rather
than printing a blank.
"""

from __future__ import annotations

import math
from typing import Any


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def _direction(before: float, after: float, lang: str) -> str:
    if lang == "zh":
        return "下降至" if after < before else "上升至" if after > before else "保持在"
    return "fell to" if after < before else "rose to" if after > before else "stayed at"


def _change(pct: float | None, lang: str) -> str:
    """增长了x% / 下降了x% (grew x% / fell x%)."""
    if pct is None:
        return "—"
    if lang == "zh":
        return f"{'下降' if pct < 0 else '增长'}了{_fmt(abs(pct))}%"
    return f"{'fell' if pct < 0 else 'grew'} {_fmt(abs(pct))}%"


def speech_sentences(speech: dict[str, Any], lang: str = "zh") -> list[str]:
    f = speech["figures"]
    year, base = speech["year"], speech["baseline_year"]
    zh = lang == "zh"
    out: list[str] = []
    if f.get("clinical_use_units") is not None:
        out.append(
            f"{year}年,全市临床用血量达到{_fmt(f['clinical_use_units'])}单位。"
            if zh
            else f"In {year} the city's clinical use reached {_fmt(f['clinical_use_units'])} units."
        )
    if base and f.get("clinical_use_growth_pct") is not None:
        growth, collected = f["clinical_use_growth_pct"], f.get("collection_growth_pct")
        out.append(
            f"{year}年,全市临床用血量较{base}年{_change(growth, lang)},"
            f"而同期血液采集量{_change(collected, lang)}。"
            if zh
            else f"In {year} clinical use {_change(growth, lang)} on {base}, while collection "
            f"{_change(collected, lang)}."
        )
    if f.get("discarded_units") is not None:
        out.append(
            f"{year}年全市因储存条件不达标、检测不合格等原因导致的血液报废量达"
            f"{_fmt(f['discarded_units'])}单位。"
            if zh
            else f"In {year} {_fmt(f['discarded_units'])} units were discarded (storage "
            "conditions, failed tests and other causes)."
        )
    students = f.get("student_share_pct") or {}
    employees = f.get("employee_share_pct") or {}
    if base and all(students.get(str(y)) is not None for y in (base, year)):
        s0, s1 = students[str(base)], students[str(year)]
        e0, e1 = employees.get(str(base)), employees.get(str(year))
        if zh:
            text = (
                f"{base}-{year}年,高校学生献血量占全市总献血量的比例从{_fmt(s0)}%"
                f"{_direction(s0, s1, lang)}{_fmt(s1)}%"
            )
            if e0 is not None and e1 is not None:
                text += (
                    f",企事业单位职工献血量占比从{_fmt(e0)}%{_direction(e0, e1, lang)}{_fmt(e1)}%"
                )
            out.append(text + "。")
        else:
            text = (
                f"From {base} to {year} students' share of donations {_direction(s0, s1, lang)} "
                f"{_fmt(s1)}% (from {_fmt(s0)}%)"
            )
            if e0 is not None and e1 is not None:
                text += (
                    f"; employees' share {_direction(e0, e1, lang)} {_fmt(e1)}% (from {_fmt(e0)}%)"
                )
            out.append(text + ".")
    ever = f.get("ever_donated_pct")
    if ever is not None:
        never = math.floor(100 - ever)
        out.append(
            f"在全市18-55周岁符合献血条件的人群中,仅有{_fmt(ever, 2)}%的人有过献血经历,"
            f"超过{never}%的人从未参与过献血。"
            if zh
            else f"Of the city's eligible residents aged 18-55, only {_fmt(ever, 2)}% have ever "
            f"donated; more than {never}% never have."
        )
    return out
