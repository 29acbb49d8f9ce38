"""Inventory through the real broker and warehouse: hand-written unit movements, stock and days
of supply checked against a hand computation, and a level crossing that alerts exactly once."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from events_factory import donation, envelope, recipient
from harness import ThreadPlatform, settings_env, thread_platform, wait_until

from infra.settings import Settings
from infra.warehouse import thread_client
from models.isbt128 import make_din
from models.rules import InventoryRules
from sdk.producer import Producer

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
RBC, FFP = "E0336V00", "E2555V00"


def day(d: float, hours: float = 0) -> datetime:
    return T0 + timedelta(days=d, hours=hours)


def din(seq: int) -> str:
    return make_din("G1234", 26, seq)


def produced(
    seq: int, product: str, ctype: str, group: str, when: datetime, facility: str, expires: datetime
) -> dict[str, Any]:
    payload = {
        "din": din(seq),
        "product_code": product,
        "component_type": ctype,
        "volume_ml": 250,
        "expires_at": expires.isoformat(),
        "abo_rh": group,
    }
    return envelope("component.produced", payload, at=when, facility=facility)


def unit_event(
    kind: str, seq: int, when: datetime, facility: str, **payload: Any
) -> dict[str, Any]:
    return envelope(f"unit.{kind}", {"din": din(seq), **payload}, at=when, facility=facility)


def issue(seq: int, when: datetime, facility: str) -> dict[str, Any]:
    return unit_event(
        "issued", seq, when, facility, product_code=RBC, recipient_id=recipient(seq), ward="ward 3"
    )


def send(platform: ThreadPlatform, events: list[dict[str, Any]]) -> None:
    with Producer(platform.settings) as producer:
        outcomes = [producer.send(e) for e in events]
    assert all(o.accepted for o in outcomes), [o.to_dict() for o in outcomes if not o.accepted]


def api(platform: ThreadPlatform, path: str, **params: Any) -> Any:
    response = httpx.get(f"{platform.url}{path}", params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def by_key(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["facility_id"], r["abo_rh"], r["component_type"]): r for r in rows}


def test_stock_and_days_of_supply_match_a_hand_computation(platform: ThreadPlatform) -> None:
    far = day(30)
    events: list[dict[str, Any]] = []
    groups = {1: "O+", 2: "O+", 3: "O+", 4: "O+", 5: "A+", 6: "A+"}
    for seq, group in groups.items():
        events.append(donation(seq, at=day(-6), abo_rh=group))
        rbc_expiry = day(2) if seq == 4 else far  # donation 4's red cells expire in 48 h
        events.append(produced(seq, RBC, "red_cells", group, day(-6, 2), "BS01", rbc_expiry))
        events.append(produced(seq, FFP, "plasma", group, day(-6, 2), "BS01", far))
    events.append(donation(7, at=day(-6), abo_rh="B+"))  # kept as whole blood
    for seq in (1, 2, 3, 4, 5, 7):  # 6 stays in quarantine
        events.append(unit_event("released", seq, day(-5), "BS01"))
    for seq in (1, 2, 3):
        events.append(
            unit_event(
                "shipped",
                seq,
                day(-3),
                "BS01",
                product_code=RBC,
                shipment_id="SH1",
                to_facility_id="H1",
            )
        )
    for seq in (1, 2):  # 3 is still in transit
        events.append(
            unit_event(
                "received",
                seq,
                day(-3, 2),
                "H1",
                product_code=RBC,
                shipment_id="SH1",
                from_facility_id="BS01",
            )
        )
    events.append(issue(1, day(-2), "H1"))
    events.append(
        unit_event(
            "transfused",
            1,
            day(-2, 1),
            "H1",
            product_code=RBC,
            recipient_id=recipient(1),
            recipient_abo_rh="O+",
            ward="ward 3",
            indication="anaemia",
        )
    )
    events.append(issue(2, day(-1), "H1"))
    events.append(
        unit_event(
            "returned", 2, day(-1, 0.5), "H1", product_code=RBC, minutes_out_of_refrigeration=10
        )
    )
    events.append(unit_event("discarded", 4, day(0), "BS01", product_code=FFP, cause="bag_leak"))
    send(platform, events)

    def report() -> dict[str, Any]:
        return api(platform, "/v1/inventory")  # type: ignore[no-any-return]

    # The discard is the last event: once it shows, everything before it has been folded.
    wait_until(
        lambda: (
            by_key(report()["facilities"]).get(("BS01", "O+", "plasma"), {}).get("available") == 3
        ),
        45,
        what="the discard folded into stock",
    )
    data = report()
    assert data["as_of"].startswith("2026-03-01T08:00") and data["window_days"] == 7
    rows = by_key(data["facilities"])
    figures = {
        k: (r["available"], r["quarantined"], r["units_out_in_window"]) for k, r in rows.items()
    }
    assert figures == {
        ("BS01", "O+", "red_cells"): (1, 0, 3),  # 4 made, 3 shipped out
        ("BS01", "O+", "plasma"): (3, 0, 0),  # 4 made, 1 discarded
        ("BS01", "A+", "red_cells"): (1, 1, 0),  # 6 not released
        ("BS01", "A+", "plasma"): (1, 1, 0),
        ("BS01", "B+", "whole_blood"): (1, 0, 0),  # never processed
        ("H1", "O+", "red_cells"): (1, 0, 2),  # 2 received; 1 transfused, 2 back; 3 in transit
    }
    # Days of supply = available ÷ (units out in 7 days ÷ 7).
    bs01 = rows[("BS01", "O+", "red_cells")]
    assert bs01["days_of_supply"] == round(1 / (3 / 7), 2) and bs01["level"] == "critical"
    h1 = rows[("H1", "O+", "red_cells")]
    assert h1["days_of_supply"] == 3.5 and h1["level"] == "short"
    assert rows[("BS01", "O+", "plasma")]["days_of_supply"] is None  # no demand
    assert rows[("BS01", "O+", "plasma")]["level"] == "normal"
    # The city: stock everywhere, demand = units issued to wards (shipments are transfers).
    city = by_key(data["city"])[("*", "O+", "red_cells")]
    assert (city["available"], city["units_out_in_window"]) == (2, 2)
    assert city["days_of_supply"] == 7.0 and city["level"] == "normal"

    # A 14-day window halves the mean daily issue and doubles the days.
    wide = by_key(api(platform, "/v1/inventory", window_days=14)["facilities"])
    assert wide[("H1", "O+", "red_cells")]["days_of_supply"] == 7.0

    # Donation 4's red cells expire in 48 h: listed, with H1 (short of O+ red cells) to take it.
    expiring = api(platform, "/v1/inventory/expiring")
    assert expiring["horizon_hours"] == 72
    (unit,) = expiring["units"]
    assert (unit["facility_id"], unit["din"], unit["hours_left"]) == ("BS01", din(4)[:13], 48.0)
    assert unit["suggestion"]["move_to"] == "H1" and unit["suggestion"]["level"] == "short"
    assert api(platform, "/v1/inventory/expiring", hours=24)["units"] == []

    # The CLI gives the same answer through the running platform's API.
    out = subprocess.run(
        [sys.executable, "-m", "cli", "inventory", "--json", "--facility", "H1"],
        env=settings_env(platform.settings),
        capture_output=True,
        timeout=120,
        check=True,
    )
    cli = orjson.loads(out.stdout)
    assert by_key(cli["facilities"]) == {("H1", "O+", "red_cells"): h1}
    # A malformed group is a clear 422, not a traceback.
    bad = httpx.get(f"{platform.url}/v1/inventory", params={"group": "Q+"}, timeout=30)
    assert bad.status_code == 422 and "ABO/RhD" in bad.json()["detail"]["message"]


@pytest.fixture
def eager_platform(settings: Settings) -> Iterator[ThreadPlatform]:
    """A platform that evaluates levels after every batch (no rate limit), so each phase of
    the test below is evaluated on its own."""
    eager = settings.model_copy(update={"inventory": InventoryRules(evaluate_min_seconds=0)})
    with thread_platform(eager) as handle:
        yield handle


def test_a_level_crossing_raises_exactly_one_alert(eager_platform: ThreadPlatform) -> None:
    platform = eager_platform
    key, city_key = "H5|O+|red_cells", "*|O+|red_cells"
    stocked = []
    for seq in range(101, 111):  # ten O+ red-cell units, released at H5
        stocked.append(produced(seq, RBC, "red_cells", "O+", day(-9), "H5", day(30)))
        stocked.append(unit_event("released", seq, day(-8), "H5"))
    send(platform, stocked)

    def h5() -> dict[str, Any]:
        rows = by_key(api(platform, "/v1/inventory", facility="H5")["facilities"])
        return rows.get(("H5", "O+", "red_cells"), {})

    wait_until(lambda: h5().get("available") == 10, 45, what="ten units in stock")
    registry = platform.platform.ctx.metrics.registry

    def settled() -> None:
        """The warehouse thread has finished what it was doing: with evaluate_min_seconds=0
        each batch's levels are evaluated in the same job that folded it."""
        platform.platform.ctx.warehouse_executor.submit(lambda: None).result(30)

    def changes() -> list[tuple[Any, ...]]:
        return (
            thread_client(platform.settings)
            .query(  # type: ignore[no-any-return]
                "select facility_id, previous_level, level, days_of_supply from inventory_levels "
                "final where kind = 'change' order by evaluated_at, facility_id"
            )
            .result_rows
        )

    # Five issues over five days: 10 → 5 units, 5 out in 7 days, 7.0 days: still normal, and
    # every state on the way has more days (63, 28, 16.3, 10.5).
    send(platform, [issue(101 + i, day(-6 + i), "H5") for i in range(5)])
    wait_until(lambda: h5().get("units_out_in_window") == 5, 45, what="five issues")
    settled()
    assert h5()["days_of_supply"] == 7.0 and h5()["level"] == "normal"
    assert changes() == []

    # One more: 4 units, 6 out → 4 ÷ (6/7) = 4.67 days: short. One alert per key.
    send(platform, [issue(106, day(-1), "H5")])
    wait_until(lambda: h5().get("units_out_in_window") == 6, 45, what="the sixth issue")
    settled()
    assert h5()["level"] == "short" and h5()["days_of_supply"] == round(4 / (6 / 7), 2)
    # And another: 3 units, 7 out → 3.0 days: still short, so no new alert.
    send(platform, [issue(107, day(0), "H5")])
    wait_until(lambda: h5().get("units_out_in_window") == 7, 45, what="the seventh issue")
    settled()
    assert h5()["level"] == "short" and h5()["days_of_supply"] == 3.0

    assert changes() == [
        ("*", "normal", "short", round(4 / (6 / 7), 4)),
        ("H5", "normal", "short", round(4 / (6 / 7), 4)),
    ]

    def alerts() -> list[tuple[Any, ...]]:
        return (
            thread_client(platform.settings)
            .query(  # type: ignore[no-any-return]
                "select subject, severity, message_en from alerts where rule = 'inventory.level_worsened' "
                "order by subject"
            )
            .result_rows
        )

    wait_until(lambda: len(alerts()) >= 2, 30, what="the level alerts stored")
    assert registry.get_sample_value("bloodtrace_inventory_level_alerts_total") == 2
    found = alerts()
    assert [(s, sev) for s, sev, _ in found] == [(city_key, "warning"), (key, "warning")]
    assert "is short (was normal): 4.7 days of supply" in found[1][2]
    history = api(platform, "/v1/inventory/levels", facility="H5")["levels"]
    assert [(r["kind"], r["level"]) for r in history if r["kind"] == "change"] == [
        ("change", "short")
    ]
