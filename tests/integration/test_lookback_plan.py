"""Lookback scope and recall on the warehouse (no broker): the window rules, recalls of the
index unit when it already left the station, the empty case, and the tracking."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
from lifecycle_scenario import (
    DONOR,
    INDEX_DIN,
    INDEX_T0,
    PLASMA,
    RED,
    SPLIT_DIN,
    T0,
    collected,
    h,
    lab_result,
    reactive_donation,
    split_unit,
    unit_event,
)

from infra.settings import Settings
from infra.warehouse import connect, migrate
from models.donor_history import LookbackRequest
from models.isbt128 import make_din
from models.lifecycle import to_ms
from models.rules import LifecycleRules
from models.validation import parse_event
from streams.lookback import list_lookbacks, plan_lookback, show_lookback, write_lookback
from streams.sinks.warehouse import WarehouseSink, load_direct

INDEX = INDEX_DIN[:13]


def request(index: str = INDEX, donor: str = DONOR) -> LookbackRequest:
    return LookbackRequest(donor, index, 0, ["anti-HIV"], "NAT", to_ms(INDEX_T0), "BS01")


def load(settings: Settings, events: list[dict[str, Any]]) -> Any:
    client = connect(settings)
    migrate(client)
    assert load_direct(client, events)[1] == 0
    return client


def negative_donation(seq: int, days: float) -> list[dict[str, Any]]:
    din = make_din("G1234", 26, seq)
    at = T0 + timedelta(days=days)
    return [
        collected(din, at),
        lab_result(din, h(4, at), 1),
        lab_result(din, h(6, at), 2),
        unit_event("unit.released", din, h(8, at)),
    ]


def test_default_window_reaches_back_to_the_last_negative_donation(
    warehouse_settings: Settings,
) -> None:
    untested = make_din("G1234", 26, 121)  # between the two: never tested, never released
    events = (
        negative_donation(120, -300)
        + split_unit()
        + [collected(untested, T0 + timedelta(days=100))]
        + reactive_donation()
    )
    client = load(warehouse_settings, events)
    opened = plan_lookback(client, request(), warehouse_settings, partition=0, offset=1)
    earlier = [d.din for d in opened.scope.donations if d.role == "earlier"]
    # The split unit is the last negative donation: it and what came after are in scope.
    assert earlier == [SPLIT_DIN[:13], untested[:13]]
    assert opened.scope.window_rule == "last negative donation"
    assert opened.scope.window_start == to_ms(T0)
    assert not opened.empty

    window = warehouse_settings.model_copy(
        update={"lifecycle": LifecycleRules(lookback_window_days=600)}
    )
    wide = plan_lookback(client, request(), window, partition=0, offset=1)
    assert [d.din for d in wide.scope.donations if d.role == "earlier"] == [
        make_din("G1234", 26, 120)[:13],
        SPLIT_DIN[:13],
        untested[:13],
    ]
    narrow = warehouse_settings.model_copy(
        update={"lifecycle": LifecycleRules(lookback_window_days=30)}
    )
    assert plan_lookback(client, request(), narrow, partition=0, offset=1).empty


def test_first_time_donor_needs_no_lookback(warehouse_settings: Settings) -> None:
    client = load(warehouse_settings, reactive_donation())
    assert plan_lookback(client, request(), warehouse_settings, partition=0, offset=1).empty


def test_index_unit_already_at_a_hospital_is_recalled(warehouse_settings: Settings) -> None:
    index = reactive_donation()
    late_nat = index.pop()  # the confirming round arrives after the red cells left
    events = [
        *index[:3],
        unit_event("unit.released", INDEX_DIN, h(5, INDEX_T0)),
        unit_event(
            "unit.shipped",
            INDEX_DIN,
            h(6, INDEX_T0),
            product_code=RED,
            shipment_id="S9",
            to_facility_id="H03",
        ),
        late_nat,
    ]
    client = load(warehouse_settings, events)
    opened = plan_lookback(client, request(), warehouse_settings, partition=0, offset=1)
    assert not opened.empty
    ((key, raw),) = opened.notices
    assert key == b"H03"
    notice = parse_event(raw)
    assert notice.payload.dins == [INDEX] and notice.payload.addressed_to == "H03"  # type: ignore[attr-defined]


def test_written_lookback_is_tracked_until_quarantined(warehouse_settings: Settings) -> None:
    client = load(warehouse_settings, split_unit() + reactive_donation())
    opened = plan_lookback(client, request(), warehouse_settings, partition=0, offset=7)
    sink = WarehouseSink(client, "lifecycle.donors")
    written = write_lookback(sink, opened)
    assert written == 1 + 3 + 1 + 1  # the lookback, three items in scope, one recall, one notice
    assert write_lookback(WarehouseSink(client, "lifecycle.donors"), opened) == 0  # replay

    shown = show_lookback(client, opened.lookback_id, warehouse_settings)
    assert (shown["status"], shown["open_recalls"]) == ("open", 1)
    plasma = next(c for c in shown["components_in_scope"] if c["product_code"] == PLASMA)
    assert (plasma["holder_facility"], plasma["recall"]) == ("H02", "open")

    load_direct(
        client,
        [
            unit_event(
                "unit.discarded",
                SPLIT_DIN,
                h(24 * 210),
                "H02",
                product_code=PLASMA,
                cause="recall",
                volume_ml=200,
            )
        ],
    )
    shown = show_lookback(client, opened.lookback_id, warehouse_settings)
    assert (shown["status"], shown["open_recalls"]) == ("closed", 0)
    plasma = next(c for c in shown["components_in_scope"] if c["product_code"] == PLASMA)
    assert (plasma["status_at_open"], plasma["status"], plasma["recall"]) == (
        "available",
        "discarded",
        "resolved",
    )
    listed = list_lookbacks(client, warehouse_settings)
    assert [(lb["lookback_id"], lb["status"]) for lb in listed] == [(opened.lookback_id, "closed")]
    assert list_lookbacks(client, warehouse_settings, status="open") == []
    alert = orjson.loads(opened.alert.to_record())
    assert alert["rule"] == "lookback.opened" and alert["evidence"]["recalls"]
