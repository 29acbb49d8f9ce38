"""A small simulated city with a baseline year, built fast for the dashboard's tests and bench.

Two windows of the small preset (June of two consecutive years, so growth has a baseline and
14 June has the previous year's window) go straight into the warehouse (load_direct), dbt
builds the marts and the quality checks run; the caller then streams the last days through
the platform so the processors raise real alerts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import events_factory

from infra.settings import Settings
from infra.warehouse import connect, migrate
from simulation import PRESETS, simulate
from streams.sinks.warehouse import load_direct

KEY = b"test-key"


def devoted_donors(year: int) -> list[dict[str, Any]]:
    """Three donors with 22, 31 and 41 whole-blood donations of 200 ml on 2 June of ``year``
    (honours bronze, silver and gold: three weeks of the city make no honoured donor)."""
    return events_factory.devoted_donors(datetime(year, 6, 2, 1, 0, tzinfo=UTC), KEY)


def city_events(year: int, days: int) -> list[dict[str, Any]]:
    """``days`` days from 1 June of ``year - 1`` and of ``year``; one seed a year; and the
    devoted donors in the first year. Windows up to 180 days: longer ones would overlap the
    next window's DINs (a DIN holds the year of collection and a sequence)."""
    assert days <= 180, "use full_years_events for longer histories"
    events: list[dict[str, Any]] = devoted_donors(year - 1)
    for y in (year - 1, year):
        events += simulate(
            PRESETS["small"], start=date(y, 6, 1), days=days, seed=y, pseudonym_key=KEY
        )
    return events


def full_years_events(year: int) -> list[dict[str, Any]]:
    """Two whole years, ``year - 1`` and ``year``, as one simulation (the bench's history)."""
    start = date(year - 1, 1, 1)
    days = (date(year + 1, 1, 1) - start).days
    return devoted_donors(year - 1) + list(
        simulate(PRESETS["small"], start=start, days=days, seed=year, pseudonym_key=KEY)
    )


def build_city(
    settings: Settings,
    *,
    year: int = 2025,
    days: int = 21,
    streamed_days: int = 2,
    full_years: bool = False,
) -> list[dict[str, Any]]:
    """Load all but the last ``streamed_days`` days, build the marts and run the quality
    checks; returns the held-back events for the caller to send through the platform.
    ``full_years``: two whole years instead of two windows of ``days``."""
    from expectations.runner import run_quality
    from infra.dbt_runner import run_dbt

    if full_years:
        events = full_years_events(year)
        end = date(year + 1, 1, 1)
    else:
        events = city_events(year, days)
        end = date(year, 6, 1) + timedelta(days=days)
    cut = (end - timedelta(days=streamed_days)).isoformat()
    early = [e for e in events if e["occurred_at"][:10] < cut]
    late = [e for e in events if e["occurred_at"][:10] >= cut]
    client = connect(settings)
    try:
        migrate(client)
        # Batches of 2,000: over HTTP a ClickHouse server refuses the sink's lookup of a
        # 20,000-event batch ("HTML Form Exception: Field value too long").
        accepted, _ = load_direct(client, early, batch_size=2000)
        assert accepted == len(early)
    finally:
        client.close()
    result = run_dbt(settings, ["build", "--exclude-resource-type", "unit_test"], quiet=True)
    if not result.success:
        raise RuntimeError(f"dbt build failed: {[(n.name, n.message) for n in result.failed]}")
    run_quality(settings, None, True)
    return late
