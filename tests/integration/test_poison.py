"""Poison input never stops the stream, and no national ID number is kept, logged or echoed.

Every kind of bad input goes over HTTP (POST /v1/events) and straight onto the raw topic; each
is refused with its reason, nothing answers 5xx, the valid events sent after them are stored,
and afterwards no national ID digits are in any table, log line or answer.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from confluent_kafka import Producer as KafkaProducer
from events_factory import donation, envelope, iso
from harness import ThreadPlatform, platform_signed, wait_until

from infra.warehouse import thread_client
from models.isbt128 import make_din

pytestmark = pytest.mark.integration

# Made-up national ID numbers with right GB 11643 check characters.
NATIONAL_ID = "110101199003077571"
OTHER_ID = "440304198512310011"
ID_DIGITS = (NATIONAL_ID[:17], OTHER_ID[:17])
TWO_MB = 2_000_000


def _raw(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)


def _payload(seq: int, **changes: Any) -> bytes:
    event = donation(seq)
    event["payload"].update(changes)
    return _raw(event)


def _envelope(seq: int, **changes: Any) -> bytes:
    return _raw({**donation(seq), **changes})


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def _deep_payload(seq: int) -> bytes:
    return _raw(donation(seq)).replace(b'"volume_ml":400', b'"extra":' + _nested(200), 1)


@dataclass(frozen=True)
class Probe:
    kind: str
    raw: bytes
    reason: str
    http_body: bytes | None = None  # when HTTP gets something other than [raw]
    http_status: int | None = None  # for a request refused whole
    stream: bool = True  # also sent straight to the raw topic


def _corpus() -> list[Probe]:
    good = donation(1)
    din = good["payload"]["din"]
    wrong_check = din[:-1] + ("Z" if din[-1] != "Z" else "Y")
    no_volume = {k: v for k, v in good["payload"].items() if k != "volume_ml"}
    released = envelope("unit.released", {"din": din})
    issued = envelope(
        "unit.issued", {"din": din, "ward": f"ICU bed 3, patient {NATIONAL_ID}"}, at=None
    )
    dup = _raw(donation(40)).replace(b'"volume_ml":400', b'"volume_ml":400,"volume_ml":300')
    overflow = _raw(donation(19)).replace(b'"volume_ml":400', b'"volume_ml":1' + b"0" * 30)
    return [
        Probe("malformed_json", b'{"type": "donation.collected", "payload": ', "malformed_json"),
        Probe("empty_body", b"", "malformed_json", http_body=b"", http_status=400),
        Probe("array_of_non_objects", b"[1, 2, 3]", "malformed_json"),
        Probe("unknown_type", _envelope(2, type="unit.teleported"), "unknown_type"),
        Probe("missing_field", _raw({**donation(3), "payload": no_volume}), "missing_field"),
        Probe("wrong_field_type", _payload(4, volume_ml="400"), "invalid_field"),
        Probe("bool_as_int", _payload(5, first_time=1), "invalid_field"),
        Probe("bad_din_check", _payload(6, din=wrong_check), "bad_din_check"),
        Probe("lowercase_din", _payload(7, din=make_din("G1234", 26, 7).lower()), "invalid_field"),
        Probe(
            "future_timestamp",
            _envelope(8, occurred_at=iso(datetime.now(UTC) + timedelta(days=3))),
            "future_timestamp",
        ),
        Probe("naive_timestamp", _envelope(9, occurred_at="2026-03-01T08:30:00"), "invalid_field"),
        Probe("oversized", _raw({**donation(10), "padding": "x" * 70_000}), "oversized"),
        Probe(
            "oversized_2mb",
            _raw({**donation(11), "padding": "y" * TWO_MB}),
            "oversized",
            http_status=413,
        ),
        Probe("newer_schema", _envelope(12, schema_version=2), "unsupported_schema_version"),
        Probe("schema_version_string", _envelope(13, schema_version="1"), "invalid_field"),
        Probe("schema_version_float", _envelope(14, schema_version=1.0), "invalid_field"),
        Probe("negative_volume", _payload(15, volume_ml=-5), "invalid_field"),
        Probe("unknown_payload_field", _payload(16, colour="red"), "invalid_field"),
        Probe("binary_garbage", bytes(range(256)) * 4, "malformed_json"),
        Probe("invalid_utf8", b'{"type": "\xff\xfe donation"}', "malformed_json"),
        Probe("null_bytes", b"\x00" * 64 + _raw(donation(17)), "malformed_json"),
        Probe("huge_string_field", _payload(18, site_id="S" * 60_000), "invalid_field"),
        Probe("duplicate_keys", dup, "duplicate_key", http_status=422),
        Probe("number_overflow", overflow, "invalid_field"),
        Probe("infinity", b'{"type": "unit.released", "n": Infinity}', "malformed_json"),
        Probe("nan", _raw(donation(20)).replace(b":400", b":NaN"), "malformed_json"),
        Probe("deep_nesting_300", _nested(300), "too_deep", http_status=422),
        Probe("deep_nesting_in_payload", _deep_payload(21), "too_deep", http_status=422),
        Probe("national_id_in_donor_id", _payload(22, donor_id=NATIONAL_ID), "not_pseudonymised"),
        Probe("national_id_in_din", _payload(23, din=NATIONAL_ID), "invalid_field"),
        Probe("national_id_in_facility", _envelope(24, facility_id=OTHER_ID), "national_id"),
        Probe("national_id_in_free_text", _raw(issued), "national_id"),
        Probe("national_id_as_key", _raw({**released, OTHER_ID: 1}), "invalid_field"),
        Probe(
            "batch_too_large",
            b"",
            "batch_too_large",
            http_body=orjson.dumps([{}] * 2_001),
            http_status=413,
            stream=False,
        ),
    ]


CORPUS = _corpus()


def _http_body(probe: Probe) -> bytes:
    return probe.http_body if probe.http_body is not None else b"[" + probe.raw + b"]"


def _http_expectation(probe: Probe) -> tuple[int, bool]:
    """(status, refused whole?) expected for a probe sent over HTTP."""
    if probe.http_status is not None:
        return probe.http_status, True
    try:
        orjson.loads(_http_body(probe))
    except orjson.JSONDecodeError:
        return 400, True
    return 200, False


def _raw_topic_producer(platform: ThreadPlatform) -> KafkaProducer:
    return KafkaProducer(
        {"bootstrap.servers": platform.settings.bootstrap_servers, "message.max.bytes": 10 << 20}
    )


def _send_raw(platform: ThreadPlatform, values: list[bytes], key: bytes = b"one-partition") -> None:
    producer = _raw_topic_producer(platform)
    for value in values:
        producer.produce(
            platform.settings.topic("events.raw"),
            value=value,
            key=key,
            headers=platform_signed(value),  # signed: these test the checks after signatures
        )
    assert producer.flush(30) == 0


def _rows(platform: ThreadPlatform, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in thread_client(platform.settings).query(sql).result_rows]


def _count(platform: ThreadPlatform, sql: str) -> int:
    return int(_rows(platform, sql)[0][0])


def _no_national_id(text: str, where: str) -> None:
    for digits in ID_DIGITS:
        assert digits not in text, f"national ID digits in {where}: ...{_around(text, digits)}..."


def _around(text: str, needle: str) -> str:
    at = text.find(needle)
    return text[max(0, at - 80) : at + 40]


def _every_table_text(platform: ThreadPlatform) -> Iterator[tuple[str, str]]:
    client = thread_client(platform.settings)
    tables = client.query(
        "select name from system.tables where database = currentDatabase() "
        "and engine not like '%View%'"
    ).result_rows
    assert len(tables) > 20
    for (name,) in tables:
        yield name, repr(client.query(f"select * from `{name}`").result_rows)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="bloodtrace")
    caplog.set_level(logging.INFO)
    return caplog


def test_a_2mb_raw_message_and_a_malformed_one_are_kept_and_the_next_event_is_stored(
    platform: ThreadPlatform,
) -> None:
    big = _raw({**donation(1), "padding": "z" * TWO_MB})
    _send_raw(platform, [big, b"{not json", _raw(donation(2))])
    platform.wait_accepted(1)
    rows = wait_until(
        lambda: (
            (
                r := _rows(
                    platform,
                    "select reason, raw_size, raw_sha256, length(raw) from rejected_events "
                    "order by reason",
                )
            )
            and len(r) == 2
            and r
        ),
        60,
        what="both rejections stored",
    )
    limit = platform.settings.ingest.dead_letter_raw_bytes
    assert rows[0][0] == "malformed_json" and rows[0][1] == 9
    assert rows[1][:3] == ("oversized", len(big), hashlib.sha256(big).hexdigest())
    assert rows[1][3] <= limit
    assert _count(platform, "select count() from events") == 1


def test_a_2mb_post_answers_413_with_a_reason_and_is_kept(platform: ThreadPlatform) -> None:
    body = b"[" + _raw({**donation(1), "padding": "p" * TWO_MB}) + b"]"
    response = httpx.post(f"{platform.url}/v1/events", content=body, timeout=60)
    assert response.status_code == 413, response.text[:300]
    assert response.json()["detail"]["reason"] == "oversized"
    row = wait_until(
        lambda: _rows(platform, "select source, reason, raw_size, raw_sha256 from rejected_events"),
        30,
        what="the refused request in rejected_events",
    )
    assert row == [("http", "oversized", len(body), hashlib.sha256(body).hexdigest())]


def test_a_huge_batch_gets_a_short_answer_that_never_echoes_the_input(
    platform: ThreadPlatform,
) -> None:
    body = orjson.dumps([donation(i) for i in range(100_000)])
    response = httpx.post(f"{platform.url}/v1/events", content=body, timeout=120)
    assert response.status_code == 413
    assert len(response.content) < 2_000
    wrong_shape = httpx.post(f"{platform.url}/v1/quality/runs", json=[NATIONAL_ID] * 5000)
    assert wrong_shape.status_code == 422 and len(wrong_shape.content) < 2_000
    assert "input" not in wrong_shape.text
    _no_national_id(wrong_shape.text, "a 422 answer")


def test_national_ids_are_masked_in_answers_rejections_and_audit(
    platform: ThreadPlatform,
) -> None:
    body = [
        orjson.loads(_payload(1, donor_id=NATIONAL_ID)),
        orjson.loads(_payload(2, din=OTHER_ID)),
    ]
    answers = [httpx.post(f"{platform.url}/v1/events", json=body, timeout=30)]
    assert [r["reason"] for r in answers[0].json()["results"]] == [
        "not_pseudonymised",
        "invalid_field",
    ]
    answers.append(httpx.get(f"{platform.url}/v1/units/{NATIONAL_ID}/trace", timeout=30))
    answers.append(httpx.get(f"{platform.url}/v1/donors/{NATIONAL_ID}/trace", timeout=30))
    assert [a.status_code for a in answers] == [200, 422, 404]
    wait_until(
        lambda: _count(platform, "select count() from rejected_events") == 2, 30, what="rejections"
    )
    for answer in answers:
        _no_national_id(answer.text, f"the answer to {answer.request.url.path}")
    for name, text in _every_table_text(platform):
        _no_national_id(text, f"table {name}")
    assert _count(platform, "select count() from audit_log") == 2


def test_every_kind_of_bad_input_is_refused_with_its_reason_and_the_stream_goes_on(
    platform: ThreadPlatform, logs: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    assert len({p.kind for p in CORPUS}) >= 25
    answers: list[str] = []
    http_reasons: Counter[str] = Counter()
    for probe in CORPUS:
        response = httpx.post(f"{platform.url}/v1/events", content=_http_body(probe), timeout=60)
        answers.append(response.text)
        status, whole = _http_expectation(probe)
        assert response.status_code == status, (probe.kind, response.text[:300])
        data = response.json()
        reason = data["detail"]["reason"] if whole else data["results"][0]["reason"]
        assert reason == probe.reason, (probe.kind, response.text[:300])
        http_reasons[probe.reason] += 1
    stream_probes = [p for p in CORPUS if p.stream]
    _send_raw(platform, [p.raw for p in stream_probes] + [_raw(donation(100))])
    after = httpx.post(f"{platform.url}/v1/events", json=[donation(101)], timeout=30)
    assert after.json()["accepted"] == 1
    platform.wait_accepted(2)
    total = sum(http_reasons.values()) + len(stream_probes)
    wait_until(
        lambda: _count(platform, "select count() from rejected_events") >= total,
        60,
        what=f"{total} rejections",
    )
    by_source = Counter(_rows(platform, "select source, reason from rejected_events"))
    assert {r: n for (s, r), n in by_source.items() if s == "http"} == dict(http_reasons)
    assert {r: n for (s, r), n in by_source.items() if s == "stream"} == dict(
        Counter(p.reason for p in stream_probes)
    )
    assert _count(platform, "select count() from events") == 2
    assert all(len(a) < 5_000 for a in answers)
    for text in answers:
        _no_national_id(text, "an answer")
    for name, text in _every_table_text(platform):
        _no_national_id(text, f"table {name}")
    for record in logs.records:
        _no_national_id(record.getMessage() + str(record.exc_text or ""), "a log record")
    out, err = capfd.readouterr()
    _no_national_id(out + err, "the platform's output")
