"""Hand-made wire events for tests (valid by default; tweak fields to break them)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from models.isbt128 import make_din
from models.pseudonym import pseudonymise

KEY = b"test-key"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def envelope(
    event_type: str,
    payload: dict[str, Any],
    *,
    at: datetime | None = None,
    facility: str = "BS01",
    event_id: str | None = None,
) -> dict[str, Any]:
    at = at or datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "type": event_type,
        "schema_version": 1,
        "occurred_at": iso(at),
        "recorded_at": iso(at + timedelta(seconds=5)),
        "facility_id": facility,
        "payload": payload,
    }


def donor(n: int) -> str:
    return pseudonymise(f"110101199001{n:06d}", KEY)


def donation(
    seq: int, *, at: datetime | None = None, donor_n: int | None = None, **payload: Any
) -> dict[str, Any]:
    body = {
        "din": make_din("G1234", 26, seq),
        "donor_id": donor(seq if donor_n is None else donor_n),
        "donation_kind": "whole_blood",
        "volume_ml": 400,
        "site_id": "S01",
        "site_kind": "fixed_house",
        "county_code": "C01",
        "abo_rh": "O+",
        "donor_group": "student",
        "donor_age": 21,
        "donor_sex": "M",
        "first_time": True,
    }
    body.update(payload)
    return envelope("donation.collected", body, at=at)
