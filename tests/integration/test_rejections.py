"""Every kind of bad input ends in rejected_events with its reason; the stream goes on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import orjson
from events_factory import donation, iso
from harness import ThreadPlatform, wait_until

from infra.warehouse import thread_client
from sdk.producer import Producer


def _bad_inputs() -> dict[str, bytes]:
    good = donation(1)
    din = good["payload"]["din"]
    wrong_check = din[:-1] + ("Z" if din[-1] != "Z" else "Y")
    missing = {k: v for k, v in good["payload"].items() if k != "donor_id"}
    return {
        "malformed_json": b'{"type": "donation.collected", "payload": ',
        "unknown_type": orjson.dumps({**donation(2), "type": "unit.teleported"}),
        "missing_field": orjson.dumps({**donation(3), "payload": missing}),
        "invalid_field": orjson.dumps(
            {**donation(4), "payload": {**donation(4)["payload"], "volume_ml": -5}}
        ),
        "bad_din_check": orjson.dumps(
            {**donation(5), "payload": {**donation(5)["payload"], "din": wrong_check}}
        ),
        "future_timestamp": orjson.dumps(
            {**donation(6), "occurred_at": iso(datetime.now(UTC) + timedelta(days=3))}
        ),
        "oversized": orjson.dumps({**donation(7), "padding": "x" * 70_000}),
    }


def test_each_bad_input_sent_straight_to_kafka_is_kept_with_its_reason(
    platform: ThreadPlatform,
) -> None:
    bad = _bad_inputs()
    with Producer(platform.settings) as producer:
        for raw in bad.values():
            producer.send_raw(raw, key=b"k")
        outcome = producer.send(donation(100))  # a good one after the bad ones
    assert outcome.accepted
    platform.wait_accepted(1)
    client = thread_client(platform.settings)
    rows = wait_until(
        lambda: (
            (
                r := client.query(
                    "select reason, raw, source from rejected_events order by rejected_at"
                ).result_rows
            )
            and len(r) >= len(bad)
            and r
        ),
        30,
        what="rejections",
    )
    by_reason = {reason: (raw, source) for reason, raw, source in rows}
    assert set(by_reason) == set(bad)
    limit = platform.settings.ingest.dead_letter_raw_bytes
    for reason, raw in bad.items():
        # Kept as sent, cut to the configured limit (the oversized one is longer).
        assert by_reason[reason][0] == raw[:limit].decode(), reason
        assert by_reason[reason][1] == "stream"
    assert client.query("select count() from events").result_rows[0][0] == 1


def test_http_batch_answers_per_event_and_keeps_the_refused(platform: ThreadPlatform) -> None:
    bad = donation(2)
    bad["payload"]["din"] = bad["payload"]["din"][:-1] + "*"
    body = [donation(1), bad, "not an event", donation(3)]
    response = httpx.post(f"{platform.url}/v1/events", json=body, timeout=30)
    assert response.status_code == 200
    data = response.json()
    assert (data["accepted"], data["rejected"]) == (2, 2)
    assert [r["accepted"] for r in data["results"]] == [True, False, False, True]
    assert data["results"][1]["reason"] == "bad_din_check"
    assert data["results"][2]["reason"] == "malformed_json"
    platform.wait_accepted(2)
    client = thread_client(platform.settings)
    reasons = wait_until(
        lambda: (
            sorted(
                r[0]
                for r in client.query(
                    "select reason from rejected_events where source = 'http'"
                ).result_rows
            )
            or None
        ),
        30,
        what="http rejections",
    )
    assert reasons == ["bad_din_check", "malformed_json"]
    metrics = httpx.get(f"{platform.url}/metrics", timeout=10).text
    assert 'bloodtrace_events_rejected_total{reason="bad_din_check"} 1.0' in metrics
    assert "bloodtrace_events_accepted_total 2.0" in metrics


def test_health_reports_each_part(platform: ThreadPlatform) -> None:
    body = httpx.get(f"{platform.url}/health", timeout=10).json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"broker", "warehouse", "worker"}
