from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from events_factory import donation, envelope, iso

from infra.errors import EventRejected
from models.rules import IngestRules
from models.validation import REASONS, parse_event


def reason_of(raw: Any, **kw: Any) -> str:
    with pytest.raises(EventRejected) as info:
        parse_event(raw if isinstance(raw, bytes) else orjson.dumps(raw), **kw)
    assert info.value.reason in REASONS
    return info.value.reason


def test_valid_donation_is_normalised() -> None:
    event = parse_event(orjson.dumps(donation(1)))
    assert event.payload.din == "G123426000001"  # type: ignore[attr-defined]
    assert event.occurred_at.tzinfo is not None


def test_each_kind_of_bad_input_has_its_reason() -> None:
    good = donation(1)
    assert reason_of(b"{not json") == "malformed_json"
    assert reason_of(b"[1, 2]") == "malformed_json"
    assert reason_of({**good, "type": "unit.teleported"}) == "unknown_type"
    missing = {k: v for k, v in good["payload"].items() if k != "volume_ml"}
    assert reason_of({**good, "payload": missing}) == "missing_field"
    assert reason_of({**good, "payload": {**good["payload"], "volume_ml": "a lot"}}) == (
        "invalid_field"
    )
    bad_din = good["payload"]["din"][:-1] + ("Z" if good["payload"]["din"][-1] != "Z" else "Y")
    assert reason_of({**good, "payload": {**good["payload"], "din": bad_din}}) == "bad_din_check"
    future = iso(datetime.now(UTC) + timedelta(days=2))
    assert reason_of({**good, "occurred_at": future}) == "future_timestamp"
    assert reason_of(
        {**good, "payload": {**good["payload"], "donor_id": "110101199001011234"}}
    ) == ("not_pseudonymised")
    big = {**good, "payload": {**good["payload"], "site_id": "S" * 39}}
    assert reason_of(big, rules=IngestRules(max_event_bytes=200)) == "oversized"
    assert reason_of({**good, "schema_version": 99}) == "unsupported_schema_version"


def test_naive_timestamps_are_refused() -> None:
    event = donation(1)
    event["occurred_at"] = "2026-03-01T08:30:00"
    assert reason_of(event) == "invalid_field"


def test_future_tolerance_is_configuration() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    event = envelope(
        "unit.released", {"din": donation(1)["payload"]["din"]}, at=now + timedelta(minutes=5)
    )
    parse_event(orjson.dumps(event), now=now)  # default tolerance is 10 minutes
    with pytest.raises(EventRejected):
        parse_event(orjson.dumps(event), now=now, rules=IngestRules(max_future_skew_seconds=60))


@pytest.mark.parametrize("version", ["1", 1.0, True, "2", 2.0])
def test_schema_version_is_a_strict_integer(version: Any) -> None:
    assert reason_of({**donation(1), "schema_version": version}) == "invalid_field"


@pytest.mark.parametrize(
    ("field", "value"),
    [("volume_ml", "400"), ("volume_ml", 400.0), ("donor_age", "21"), ("first_time", 1)],
)
def test_numbers_and_flags_are_strict(field: str, value: Any) -> None:
    event = donation(1)
    event["payload"][field] = value
    assert reason_of(event) == "invalid_field"


def test_a_din_is_sent_upper_case() -> None:
    event = donation(1)
    event["payload"]["din"] = event["payload"]["din"].lower()
    assert reason_of(event) == "invalid_field"


def test_deep_nesting_duplicate_keys_and_national_ids_have_their_reasons() -> None:
    assert reason_of(b'{"a":' * 300 + b"1" + b"}" * 300) == "too_deep"
    assert reason_of(b"[" * 2000 + b"]" * 2000) == "too_deep"
    dup = orjson.dumps(donation(1)).replace(b'"volume_ml":400', b'"volume_ml":400,"volume_ml":1')
    assert reason_of(dup) == "duplicate_key"
    spaced = orjson.dumps(donation(1)).replace(
        b'"volume_ml":400', b'"volume_ml" :400,"volume_ml":1'
    )
    assert reason_of(spaced) == "duplicate_key"
    event = donation(1)
    event["facility_id"] = "110101199003077571"
    with pytest.raises(EventRejected) as info:
        parse_event(orjson.dumps(event))
    assert info.value.reason == "national_id" and "facility_id" in info.value.detail
    assert "110101199003077571" not in str(info.value)


def test_valid_events_with_escapes_pass_the_duplicate_check() -> None:
    event = donation(1)
    event["payload"]["site_id"] = "S01"
    raw = orjson.dumps(event).replace(b'"S01"', b'"S\\u0030\\u0031"')
    assert parse_event(raw).payload.site_id == "S01"  # type: ignore[attr-defined]
