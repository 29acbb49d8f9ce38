"""Supply early warning: the time to forecast every group × component of the default city,
against the time to read their history from the warehouse, in the same run.

Entry point (called by ``python -m bench``, section ``supply``)::

    run(days: int = 730, rounds: int = 3, quick: bool = False) -> dict[str, Any]

``days`` of the default simulated city (temperature readings left out: the history does not
read them) are loaded straight into a fresh chDB (``load_direct``); then, ``rounds`` times,
``read_history`` (one query: daily collection, use, discards and returns per group ×
component) and ``forecast`` (an OLS fit per series on the calendar, 14 days ahead, projected
days of supply) are timed. Aim: forecast ≤ 10 s.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from infra.settings import Settings
from infra.warehouse import connect, migrate
from simulation import PRESETS
from simulation.engine import simulate
from streams.sinks.warehouse import load_direct
from streams.supply import forecast, read_history

CITY = "small"


def run(days: int = 730, rounds: int = 3, quick: bool = False) -> dict[str, Any]:
    if quick:
        days, rounds = 120, 1
    with tempfile.TemporaryDirectory(prefix="bench-supply-") as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            warehouse_url=f"chdb://{tmp}/warehouse",
            pseudonym_key="bench-key",
        )
        client = connect(settings)
        migrate(client)
        started = time.perf_counter()
        events = [
            e
            for e in simulate(
                PRESETS[CITY], start=date(2024, 1, 1), days=days, seed=11, pseudonym_key=b"bench"
            )
            if e["type"] != "storage.temperature_recorded"
        ]
        accepted, _ = load_direct(client, events)
        load_seconds = time.perf_counter() - started
        reads, fits = [], []
        projections = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            history = read_history(client, settings)
            t1 = time.perf_counter()
            projections = forecast(history, settings)
            t2 = time.perf_counter()
            reads.append(t1 - t0)
            fits.append(t2 - t1)
        read_s, fit_s = statistics.median(reads), statistics.median(fits)
        return {
            "city": CITY,
            "days": days,
            "events_loaded": accepted,
            "load_seconds": round(load_seconds, 1),
            "history_days": history.days,
            "series": len(projections),
            "horizon_days": settings.supply.horizon_days,
            "read_history_seconds": round(read_s, 3),
            "forecast_seconds": round(fit_s, 3),
            "forecast_vs_read": round(fit_s / read_s, 2) if read_s else None,
            "aim_forecast_seconds": 10,
            "met": fit_s <= 10,
        }


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 730), indent=1))
