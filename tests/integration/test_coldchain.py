"""Cold chain through the real broker and warehouse: hand-written telemetry and unit movements.

Time-based rules run on event time (occurred_at): no test sleeps to make a sensor silent.
"""

from __future__ import annotations

import time
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from events_factory import envelope, recipient
from harness import ThreadPlatform, wait_until

from infra.settings import Settings
from infra.warehouse import thread_client
from models.isbt128 import make_din
from models.rules import ColdChainRules
from sdk.producer import Producer

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The platform's settings (conftest), with the silent-sensor timer looking every half
    second."""
    return settings.model_copy(update={"coldchain": ColdChainRules(silence_check_seconds=0.5)})


T = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
RBC, PLT = "E0336V00", "E3085V00"


def at(minutes: float) -> datetime:
    return T + timedelta(minutes=minutes)


def din(seq: int) -> str:
    return make_din("G1234", 26, seq)


def code(seq: int) -> str:
    return din(seq)[:13]


def produced(seq: int, product: str, ctype: str, minutes: float = -120) -> dict[str, Any]:
    return envelope(
        "component.produced",
        {
            "din": din(seq),
            "product_code": product,
            "component_type": ctype,
            "volume_ml": 250,
            "expires_at": (T + timedelta(days=30)).isoformat(),
            "abo_rh": "O+",
        },
        at=at(minutes),
        facility="H1",
    )


def stored(seq: int, product: str, equipment: str, minutes: float) -> dict[str, Any]:
    payload = {
        "din": din(seq),
        "product_code": product,
        "location_id": "BB",
        "equipment_id": equipment,
    }
    return envelope("unit.stored", payload, at=at(minutes), facility="H1")


def issued(seq: int, product: str, minutes: float) -> dict[str, Any]:
    payload = {
        "din": din(seq),
        "product_code": product,
        "recipient_id": recipient(seq),
        "ward": "ICU",
    }
    return envelope("unit.issued", payload, at=at(minutes), facility="H1")


def returned(seq: int, product: str, minutes_out: float, minutes: float) -> dict[str, Any]:
    payload = {
        "din": din(seq),
        "product_code": product,
        "minutes_out_of_refrigeration": minutes_out,
    }
    return envelope("unit.returned", payload, at=at(minutes), facility="H1")


def reading(
    equipment: str, kind: str, minutes: float, temp: float, agitating: bool | None = None
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "equipment_id": equipment,
        "equipment_kind": kind,
        "temperature_c": temp,
        "interval_seconds": 300,
    }
    if agitating is not None:
        payload["agitating"] = agitating
    return envelope("storage.temperature_recorded", payload, at=at(minutes), facility="H1")


def send(platform: ThreadPlatform, events: list[dict[str, Any]]) -> None:
    with Producer(platform.settings) as producer:
        outcomes = [producer.send(e) for e in events]
    assert all(o.accepted for o in outcomes), [o.to_dict() for o in outcomes if not o.accepted]


def contents_of(platform: ThreadPlatform, equipment: str) -> set[str]:
    table = platform.platform.ctx.app.tables["coldchain-contents"]
    value = table.get(equipment) or {}
    return {s["din"] for s in value.get("stays", []) if s["left_at"] is None}


def query(platform: ThreadPlatform, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    rows = thread_client(platform.settings).query(sql, parameters=params).result_rows
    return cast("list[tuple[Any, ...]]", rows)


def test_excursions_under_and_past_tolerance(platform: ThreadPlatform) -> None:
    # Units: two red-cell units in F-BAD, one more that leaves before the excursion, one
    # red-cell unit in F-OK, one platelet unit on agitator A-1.
    units = [produced(s, RBC, "red_cells") for s in (1, 2, 3, 4)] + [produced(5, PLT, "platelets")]
    units += [stored(s, RBC, "F-BAD", -60) for s in (1, 2, 3)]
    units += [stored(4, RBC, "F-OK", -60), stored(5, PLT, "A-1", -60), issued(3, RBC, 0)]
    send(platform, units)
    wait_until(
        lambda: (
            contents_of(platform, "F-BAD") == {code(1), code(2)}
            and contents_of(platform, "F-OK") == {code(4)}
            and contents_of(platform, "A-1") == {code(5)}
        ),
        30,
        what="units placed in their equipment",
    )
    # Readings every 5 minutes for an hour. F-OK: 15 minutes warm (within the 30 tolerated).
    # F-BAD: warm from minute 10, back at 50: confirmed at minute 45 (35 min > 30).
    # 22 °C throughout, agitator stopped from minute 5 to 45.
    ok = [4.0, 4.1, 7.5, 8.0, 8.2, 4.5] + [4.2] * 7
    bad = [4.0, 4.0, 8.0, 9.0, 9.5, 10.0, 9.0, 8.5, 8.0, 7.5, 4.2, 4.0, 4.0]
    telemetry = []
    for i in range(13):
        telemetry.append(reading("F-OK", "fridge", 5 * i, ok[i]))
        telemetry.append(reading("F-BAD", "fridge", 5 * i, bad[i]))
        telemetry.append(reading("A-1", "platelet_agitator", 5 * i, 22.0, i == 0 or i >= 10))
    send(platform, telemetry)

    def excursions() -> dict[str, tuple[Any, ...]]:
        rows = query(
            platform,
            "select equipment_id, status, duration_minutes, peak_c, units_flagged, readings_out, "
            "breaches from coldchain_excursions final order by equipment_id",
        )
        return {r[0]: r[1:] for r in rows}

    wait_until(
        lambda: (
            {k: v[0] for k, v in excursions().items()}
            == {
                "A-1": "ended_confirmed",
                "F-BAD": "ended_confirmed",
                "F-OK": "ended_within_tolerance",
            }
        ),
        45,
        what="three ended excursions",
    )
    found = excursions()
    assert found["F-OK"][:5] == ("ended_within_tolerance", 15.0, 8.2, 0, 3)
    assert found["F-BAD"][:5] == ("ended_confirmed", 40.0, 10.0, 2, 8)
    assert found["A-1"][0] == "ended_confirmed" and list(found["A-1"][5]) == ["not_agitated"]

    def flagged() -> list[tuple[Any, ...]]:
        return query(
            platform,
            "select equipment_id, din, recommendation from coldchain_unit_flags final "
            "order by equipment_id, din",
        )

    expected_flags = [
        ("A-1", code(5), "quarantine"),
        ("F-BAD", code(1), "quarantine"),
        ("F-BAD", code(2), "quarantine"),
    ]
    # The flags are a later insert than the excursions: wait for them, not only the excursions.
    wait_until(lambda: flagged() == expected_flags, 30, what="the excursions' units flagged")
    assert flagged() == expected_flags

    def alerts() -> list[tuple[Any, ...]]:
        return query(
            platform,
            "select rule, subject, equipment_id from alerts where rule like 'coldchain.%' "
            "order by rule, subject",
        )

    wait_until(lambda: len(alerts()) >= 5, 30, what="cold-chain alerts")
    assert alerts() == [
        ("coldchain.excursion_confirmed", "A-1", "A-1"),
        ("coldchain.excursion_confirmed", "F-BAD", "F-BAD"),
        ("coldchain.excursion_unit_quarantine", code(1), "F-BAD"),
        ("coldchain.excursion_unit_quarantine", code(2), "F-BAD"),
        ("coldchain.excursion_unit_quarantine", code(5), "A-1"),
    ]
    # F-OK's excursion stayed under tolerance: nothing about it, nor its unit, was alerted.
    assert not query(
        platform, "select 1 from alerts where equipment_id = 'F-OK' or din = {d:String}", d=code(4)
    )


def test_unit_movements_learnt_after_the_readings(platform: ThreadPlatform) -> None:
    """While a backlog is consumed, readings can run ahead of the unit movements (they come
    from other partitions): the excursion is confirmed with nobody known inside, and the units
    are matched against it when their movements arrive."""
    bad = [4.0, 4.0, 8.0, 9.0, 9.5, 10.0, 9.0, 8.5, 8.0, 7.5, 4.2, 4.0, 4.0]
    send(platform, [reading("F-LAG", "fridge", 5 * i, t) for i, t in enumerate(bad)])

    def excursion() -> list[tuple[Any, ...]]:
        return query(
            platform,
            "select status, units_flagged from coldchain_excursions final "
            "where equipment_id = 'F-LAG'",
        )

    wait_until(lambda: excursion() == [("ended_confirmed", 0)], 45, what="an empty excursion")
    # Now the units: 31 was in the fridge all along; 32 was taken out before it warmed up.
    late = [produced(s, RBC, "red_cells") for s in (31, 32)]
    late += [stored(31, RBC, "F-LAG", -60), stored(32, RBC, "F-LAG", -60), issued(32, RBC, 0)]
    send(platform, late)

    def flags() -> list[tuple[Any, ...]]:
        return query(
            platform,
            "select din from coldchain_unit_flags final "
            "where equipment_id = 'F-LAG' and not withdrawn",
        )

    # Wait for the flag rows to settle: the excursion's count is written just before the flags
    # (same write, two inserts), and unit 32 (stored, then issued before the warm-up, its two
    # movements possibly in two batches) may be flagged and then withdrawn on the way.
    wait_until(lambda: flags() == [(code(31),)], 45, what="the late unit's flag row alone")
    assert excursion() == [("ended_confirmed", 1)]
    assert flags() == [(code(31),)]
    report = httpx.get(
        f"{platform.url}/v1/coldchain/excursions", params={"equipment": "F-LAG"}, timeout=30
    ).json()
    (row,) = report["excursions"]
    assert [u["din"] for u in row["units"]] == [code(31)]
    assert row["duration_minutes"] == 40.0 and row["condition_text"] == "2–6 °C"


def same_partition(name: str, partitions: int, prefix: str) -> str:
    """A sensor id landing in the same partition as ``name``: silence is judged against the
    latest reading time of the sensor's own partition (librdkafka's default partitioner:
    CRC-32 of the key)."""
    target = zlib.crc32(name.encode()) % partitions
    return next(
        f"{prefix}-{i}"
        for i in range(1000)
        if zlib.crc32(f"{prefix}-{i}".encode()) % partitions == target
    )


def test_silent_sensor_raises_one_gap_alert(platform: ThreadPlatform) -> None:
    # S-QUIET reports until minute 10; a chatty sensor of its partition goes on to minute 30.
    # Three 5-minute intervals (15 min) are allowed: S-QUIET is silent from minute 25 on.
    chatty = same_partition("S-QUIET", platform.settings.topic_partitions, "S-CHATTY")
    events = [reading("S-QUIET", "fridge", m, 4.0) for m in (0, 5, 10)]
    events += [reading(chatty, "fridge", m, 4.0) for m in range(0, 35, 5)]
    # A transport box reports only while in use: put away empty, its silence is no alarm.
    box = same_partition("S-QUIET", platform.settings.topic_partitions, "BOX")
    events += [reading(box, "transport_box", m, 5.0) for m in (0, 5)]
    send(platform, events)

    def gaps() -> list[tuple[Any, ...]]:
        return query(
            platform,
            "select subject, occurred_at from alerts where rule = 'coldchain.telemetry_gap'",
        )

    wait_until(gaps, 30, what="a telemetry-gap alert")
    registry = platform.platform.ctx.metrics.registry
    wait_until(
        lambda: registry.get_sample_value("bloodtrace_coldchain_readings_total") == 12,
        30,
        what="every reading checked",
    )
    # The timer has looked several more times since: still one alert for one silence.
    time.sleep(4 * platform.settings.coldchain.silence_check_seconds)
    assert registry.get_sample_value("bloodtrace_coldchain_telemetry_gaps_total") == 1
    assert [(s, o.replace(tzinfo=UTC)) for s, o in gaps()] == [("S-QUIET", at(10))]


def test_return_after_too_long_out_is_flagged_for_discard(platform: ThreadPlatform) -> None:
    events = [produced(s, RBC, "red_cells") for s in (11, 12)]
    events += [issued(s, RBC, 0) for s in (11, 12)]
    events += [returned(11, RBC, 20, 20), returned(12, RBC, 45, 45)]
    send(platform, events)

    def discard_flags() -> list[tuple[Any, ...]]:
        return query(
            platform,
            "select din, recommendation from coldchain_unit_flags final "
            "where reason = 'returned_out_of_refrigeration'",
        )

    wait_until(discard_flags, 30, what="a discard flag")
    assert discard_flags() == [(code(12), "discard")]
    wait_until(
        lambda: query(
            platform,
            "select subject from alerts where rule = 'coldchain.returned_out_of_refrigeration'",
        ),
        30,
    )
    assert query(
        platform,
        "select subject from alerts where rule = 'coldchain.returned_out_of_refrigeration'",
    ) == [(code(12),)]
