"""What a check is: one GX expectation over a suite's frame, with a severity and the sentence
(English and Chinese) a failing row becomes.

A suite is the list of checks over one frame: a warehouse table's rows in the window (one suite
per table) or a per-row frame that SQL builds across tables (per released unit, per unit, per
discard, per facility). Suites are code (expectations/suites.py), versioned with the repository;
expectations/gx_engine.py turns them into GX ExpectationSuites.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")


@dataclass(frozen=True)
class Check:
    name: str  # "<suite>.<what must hold>", e.g. "donations.one_donation_per_din"
    suite: str
    table: str  # the warehouse table a finding points at
    severity: Severity
    expectation: str  # class name in great_expectations.expectations
    kwargs: Mapping[str, Any]
    en: str  # one sentence, formatted with the failing row's columns
    zh: str

    def describe(self) -> str:
        """What must hold, in the words of its GX expectation (for docs and --json)."""
        args = ", ".join(
            f"{k}={v!r}" for k, v in self.kwargs.items() if k not in ("value_set", "row_condition")
        )
        where = self.kwargs.get("row_condition")
        suffix = f" where {where[0]} {where[1]} {where[2]!r}" if where else ""
        return f"{self.expectation}({args}){suffix}"


@dataclass(frozen=True)
class Suite:
    name: str  # also the GX suite and data asset name
    table: str  # the table the frame is read from ("units" etc. for cross-table frames)
    about: str  # one line for the Data Docs and --help
    checks: tuple[Check, ...] = field(default_factory=tuple)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")  # warehouse times are UTC
    if isinstance(value, float):
        if value != value:  # NaN
            return "—"
        return f"{value:.1f}".removesuffix(".0")
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value)
    text = str(value)
    return text if text != "NaT" else "—"


class RowView(dict[str, Any]):
    """A failing row as str.format_map sees it: readable values, '?' for an unknown column."""

    def __getitem__(self, key: str) -> str:
        return _fmt(super().get(key)) if key in self else "?"

    def __missing__(self, key: str) -> str:
        return "?"


def sentence(template: str, row: Mapping[str, Any]) -> str:
    return template.format_map(RowView(row))
