"""Traceability records are kept at least 30 years (EU 2005/61/EC): no migration or dbt model
sets a TTL shorter than that on an event, unit or audit table (nor a TTL we cannot read)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MIN_YEARS = 30
DAYS_PER = {
    "second": 1 / 86400,
    "minute": 1 / 1440,
    "hour": 1 / 24,
    "day": 1,
    "week": 7,
    "month": 30.44,
    "quarter": 91.3,
    "year": 365.25,
}
# `ttl x + interval 5 year`, `ttl x + toIntervalDay(90)`, dbt's ttl='x + interval 1 month'
INTERVAL = re.compile(
    r"interval\s+(\d+)\s+(second|minute|hour|day|week|month|quarter|year)s?"
    r"|tointerval(second|minute|hour|day|week|month|quarter|year)\s*\(\s*(\d+)\s*\)",
    re.IGNORECASE,
)
TTL = re.compile(r"\bttl\b\s*[=:]?\s*['\"]?([^;\n]*)", re.IGNORECASE)
KEPT = re.compile(r"event|unit|audit|rejected|lineage|lookback|trace", re.IGNORECASE)


def _sources() -> list[Path]:
    found = sorted((ROOT / "infra" / "migrations").glob("*.sql"))
    for pattern in ("*.sql", "*.yml", "*.yaml"):
        found += [
            p
            for p in (ROOT / "dbt").rglob(pattern)
            if "target" not in p.parts and "dbt_packages" not in p.parts
        ]
    return found


def ttl_problems(path_name: str, text: str) -> list[str]:
    problems = []
    code = "\n".join(line.split("--")[0] for line in text.splitlines())  # not comments
    for match in TTL.finditer(code):
        clause = match.group(1)
        intervals = INTERVAL.findall(clause)
        if not intervals:
            problems.append(f"{path_name}: a TTL whose length cannot be read: {clause[:80]}")
            continue
        for n1, unit1, unit2, n2 in intervals:
            days = int(n1 or n2) * DAYS_PER[(unit1 or unit2).lower()]
            if days < MIN_YEARS * 365.25 and KEPT.search(path_name + text):
                problems.append(f"{path_name}: TTL of {days:.0f} days < {MIN_YEARS} years")
    return problems


def test_no_event_unit_or_audit_table_expires_before_30_years() -> None:
    sources = _sources()
    assert len(sources) > 20  # the migrations and the dbt project were found
    problems = [p for path in sources for p in ttl_problems(path.name, path.read_text())]
    assert problems == []


def test_the_check_would_catch_a_short_ttl() -> None:
    short = (
        "create table unit_events (at DateTime) engine = MergeTree order by at "
        "ttl at + interval 5 year"
    )
    assert ttl_problems("0999_x.sql", short)
    assert ttl_problems("m.sql", "{{ config(ttl='at + toIntervalDay(90)') }} select 1 as unit")
    assert not ttl_problems("0999_x.sql", short.replace("5 year", "30 year"))
    assert ttl_problems("0999_x.sql", "create table audit_x (a Int8) engine=Log ttl a + f()")
