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
