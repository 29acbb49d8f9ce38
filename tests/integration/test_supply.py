"""Supply early warning on the warehouse: 150 simulated days of the small city loaded
straight into chDB; the history read back agrees with the events, the forecast is stored with
its inputs' time range, a forecast crossing raises one alert per episode, and the call list
lists eligible donors by pseudonym."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from infra.settings import Settings
from infra.warehouse import connect, migrate
from models.supply import history_from_events
from simulation.config import PRESETS
from simulation.engine import simulate
from streams.sinks.warehouse import load_direct
from streams.supply import latest_forecast, read_history, recruit, run_forecast

pytestmark = pytest.mark.integration


def test_forecast_stored_alerted_once_and_call_list(warehouse_settings: Settings) -> None:
    events = [
        e
        for e in simulate(
            PRESETS["small"], start=date(2025, 1, 1), days=150, seed=3, pseudonym_key=b"test-key"
        )
        if e["type"] != "storage.temperature_recorded"
    ]
    client = connect(warehouse_settings)
    migrate(client)
    assert load_direct(client, events) == (len(events), 0)

    # The warehouse's daily series are the events' own (same local days).
    history = read_history(client, warehouse_settings)
    direct = history_from_events(events, "Asia/Shanghai")
    assert history.end == direct.end - timedelta(days=1)  # the last day may still be filling
    key = ("O+", "red_cells")
    days = history.days
    assert list(history.series("use", key)) == list(direct.series("use", key)[:days])
    assert list(history.series("collection", key)) == list(direct.series("collection", key)[:days])
    assert history.stock(key)[-1] == direct.stock(key)[days - 1]

    first = run_forecast(client, warehouse_settings)
    assert first["history"]["to"] == history.end.isoformat()
    projections = {(p["abo_rh"], p["component_type"]): p for p in first["projections"]}
    assert key in projections and len(projections[key]["days"]) == 14
    day1 = projections[key]["days"][0]
    mid, low, high = day1["stock"]  # [projected, interval low, interval high]
    assert low <= mid <= high
    stored = client.query(
        "select count(), uniqExact(abo_rh, component_type), any(history_from), "
        "any(history_to) from supply_forecasts where run_id = {r:String}",
        parameters={"r": first["run_id"]},
    ).result_rows[0]
    assert stored[0] == 14 * len(projections) and stored[1] == len(projections)
    assert (stored[2].isoformat(), stored[3].isoformat()) == (
        first["history"]["from"],
        first["history"]["to"],
    )
    assert latest_forecast(client)["run_id"] == first["run_id"]

    # Every forecast crossing raised one alert; the same forecast again raises none.
    crossing = [k for k, p in projections.items() if p["crossing"]]
    alerts = client.query(
        "select count() from alerts where rule = 'supply.crossing_forecast'"
    ).result_rows[0][0]
    assert alerts == len(first["raised"]) == len(crossing)
    again = run_forecast(client, warehouse_settings)
    assert again["raised"] == [] and again["withdrawn"] == []

    calls = recruit(client, warehouse_settings, "O+")
    shown = calls.to_json(limit=50)
    assert shown["eligible"] > 0
    listed = [d for s in shown["sites"] for d in s["donors"]]
    assert all(d["donor_id"].startswith("ps_") for d in listed)
    repeat = [c.repeat for c in calls.candidates]
    assert repeat == sorted(repeat, reverse=True) and any(repeat)  # repeat donors first
    for site in shown["sites"]:
        flags = [d["repeat"] for d in site["donors"]]
        assert flags == sorted(flags, reverse=True)
