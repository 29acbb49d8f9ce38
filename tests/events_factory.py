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


def recorded(
    event_type: str, at: datetime, payload: dict[str, Any], facility: str = "BS01"
) -> dict[str, Any]:
    """An event recorded the moment it occurred (what bulk loads and the simulator write)."""
    return {
        "event_id": str(uuid.uuid4()),
        "type": event_type,
        "schema_version": 1,
        "occurred_at": iso(at),
        "recorded_at": iso(at),
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
        "county_code": "610902",
        "abo_rh": "O+",
        "donor_group": "student",
        "donor_age": 21,
        "donor_sex": "M",
        "first_time": True,
    }
    body.update(payload)
    return envelope("donation.collected", body, at=at)


def devoted_donors(first_at: datetime, key: bytes = KEY) -> list[dict[str, Any]]:
    """Three donors with 22, 31 and 41 whole-blood donations of 200 ml a minute apart from
    ``first_at`` (honours bronze, silver and gold), DINs Z9999 of that year in sequence."""
    events = []
    sequence = 1
    for n, count in enumerate((22, 31, 41)):
        donor = pseudonymise(f"devoted-{n}", key)
        for i in range(count):
            at = first_at + timedelta(minutes=i)
            events.append(
                {
                    "event_id": str(uuid.uuid4()),
                    "type": "donation.collected",
                    "schema_version": 1,
                    "occurred_at": iso(at),
                    "recorded_at": iso(at),
                    "facility_id": "BS01",
                    "payload": {
                        "din": make_din("Z9999", first_at.year % 100, sequence),
                        "donor_id": donor,
                        "donation_kind": "whole_blood",
                        "volume_ml": 200,
                        "site_id": "S01",
                        "site_kind": "fixed_house",
                        "county_code": "610902",
                        "abo_rh": "O+",
                        "donor_group": "employee",
                        "donor_age": 45,
                        "donor_sex": "M",
                        "first_time": i == 0,
                        "therapeutic_units": 0,
                    },
                }
            )
            sequence += 1
    return events


def recipient(n: int) -> str:
    return pseudonymise(f"R{n:08d}", KEY)


def one_of_each(seq: int = 1) -> list[dict[str, Any]]:
    """A valid event of every type, about one unit, in a plausible order."""
    din = make_din("G1234", 26, seq)
    t0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    at = [t0 + timedelta(hours=h) for h in range(20)]
    product = "E0336V00"
    return [
        envelope(
            "donor.registered",
            {
                "donor_id": donor(seq),
                "birth_date": "2001-05-04",
                "sex": "F",
                "abo_rh": "A+",
                "donor_group": "employee",
                "county_code": "610928",
            },
            at=at[0],
        ),
        envelope(
            "donor.deferred",
            {
                "donor_id": donor(seq + 1),
                "reason": "low haemoglobin",
                "deferred_until": "2026-06-01",
            },
            at=at[0],
        ),
        donation(seq, at=at[1], abo_rh="A+"),
        envelope(
            "test.result_recorded",
            {
                "din": din,
                "round": 1,
                "results": [
                    {"marker": "HBsAg", "method": "ELISA", "reactive": False},
                    {"marker": "ALT", "method": "rate", "reactive": False, "value": 31.5},
                ],
            },
            at=at[2],
        ),
        envelope("unit.released", {"din": din}, at=at[3]),
        envelope(
            "unit.quarantined", {"din": din, "reason": "hold", "product_code": product}, at=at[3]
        ),
        envelope(
            "component.produced",
            {
                "din": din,
                "product_code": product,
                "component_type": "red_cells",
                "volume_ml": 280,
                "expires_at": iso(at[4] + timedelta(days=35)),
                "abo_rh": "A+",
            },
            at=at[4],
        ),
        envelope(
            "unit.stored",
            {"din": din, "product_code": product, "location_id": "BS01", "equipment_id": "FR-01"},
            at=at[5],
        ),
        envelope(
            "storage.temperature_recorded",
            {"equipment_id": "FR-01", "equipment_kind": "fridge", "temperature_c": 4.2},
            at=at[5],
        ),
        envelope(
            "unit.shipped",
            {"din": din, "product_code": product, "shipment_id": "SH1", "to_facility_id": "H01"},
            at=at[6],
        ),
        envelope(
            "unit.received",
            {
                "din": din,
                "product_code": product,
                "shipment_id": "SH1",
                "from_facility_id": "BS01",
                "temperature_c": 5.0,
            },
            at=at[7],
            facility="H01",
        ),
        envelope(
            "crossmatch.performed",
            {
                "din": din,
                "product_code": product,
                "recipient_id": recipient(seq),
                "recipient_abo_rh": "A+",
                "compatible": True,
            },
            at=at[8],
            facility="H01",
        ),
        envelope(
            "unit.issued",
            {"din": din, "product_code": product, "recipient_id": recipient(seq), "ward": "外科"},
            at=at[9],
            facility="H01",
        ),
        envelope(
            "unit.returned",
            {"din": din, "product_code": product, "minutes_out_of_refrigeration": 12},
            at=at[10],
            facility="H01",
        ),
        envelope(
            "unit.transfused",
            {
                "din": din,
                "product_code": product,
                "recipient_id": recipient(seq),
                "recipient_abo_rh": "A+",
                "ward": "外科",
                "indication": "anaemia",
            },
            at=at[11],
            facility="H01",
        ),
        envelope(
            "transfusion.reaction_reported",
            {
                "din": din,
                "product_code": product,
                "recipient_id": recipient(seq),
                "category": "febrile",
            },
            at=at[12],
            facility="H01",
        ),
        envelope(
            "unit.discarded",
            {"din": din, "product_code": "E0701V00", "cause": "lipemia", "volume_ml": 200},
            at=at[13],
        ),
        envelope(
            "recall.opened",
            {"recall_id": "RC1", "dins": [din], "reason": "lookback", "addressed_to": "H01"},
            at=at[14],
        ),
    ]
