"""Hand-written lifecycle scenarios (wire events) shared by the lifecycle, trace and lookback
tests. Times are fixed so every expected value can be written down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from events_factory import envelope, iso

from models.isbt128 import make_din
from models.pseudonym import pseudonymise

KEY = b"test-key"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DONOR_NATIONAL_ID = "110101199001010777"
DONOR = pseudonymise(DONOR_NATIONAL_ID, KEY)
RECIPIENT_NATIONAL_ID = "320102198505050011"
RECIPIENT = pseudonymise(RECIPIENT_NATIONAL_ID, KEY)
RED, PLASMA = "E0336V00", "E2555V00"
SPLIT_DIN = make_din("G1234", 26, 101)  # the earlier donation: split, transfused, in stock
INDEX_DIN = make_din("G1234", 26, 102)  # the later, reactive donation
INDEX_T0 = T0 + timedelta(days=200)


def h(hours: float, base: datetime = T0) -> datetime:
    return base + timedelta(hours=hours)


def collected(din: str, at: datetime, donor: str = DONOR, **extra: Any) -> dict[str, Any]:
    body = {
        "din": din,
        "donor_id": donor,
        "donation_kind": "whole_blood",
        "volume_ml": 400,
        "site_id": "S01",
        "site_kind": "fixed_house",
        "county_code": "610902",
        "abo_rh": "O+",
        "donor_group": "employee",
        "donor_age": 30,
        "donor_sex": "M",
        "first_time": False,
    }
    body.update(extra)
    return envelope("donation.collected", body, at=at, facility="BS01")


def lab_result(
    din: str, at: datetime, round_no: int, reactive: tuple[str, ...] = ()
) -> dict[str, Any]:
    markers = [
        ("HBsAg", "ELISA"),
        ("anti-HCV", "ELISA"),
        ("anti-HIV", "ELISA"),
        ("anti-TP", "ELISA"),
    ]
    if round_no >= 2:
        markers = [(m, "CLIA") for m, _ in markers] + [("HIV-RNA", "NAT"), ("HBV-DNA", "NAT")]
    results = [
        {"marker": marker, "method": method, "reactive": marker in reactive}
        for marker, method in markers
    ]
    return envelope(
        "test.result_recorded",
        {"din": din, "round": round_no, "results": results},
        at=at,
        facility="BS01",
    )


def produced(
    din: str, code: str, kind: str, ml: int, at: datetime, days: int, group: str = "O+"
) -> dict[str, Any]:
    return envelope(
        "component.produced",
        {
            "din": din,
            "product_code": code,
            "component_type": kind,
            "volume_ml": ml,
            "expires_at": iso(at + timedelta(days=days)),
            "abo_rh": group,
        },
        at=at,
        facility="BS01",
    )


def unit_event(
    event_type: str, din: str, at: datetime, facility: str = "BS01", **payload: Any
) -> dict[str, Any]:
    return envelope(event_type, {"din": din, **payload}, at=at, facility=facility)


def reading(equipment: str, at: datetime, celsius: float, kind: str = "fridge") -> dict[str, Any]:
    return envelope(
        "storage.temperature_recorded",
        {"equipment_id": equipment, "equipment_kind": kind, "temperature_c": celsius},
        at=at,
        facility="BS01",
    )


def split_unit() -> list[dict[str, Any]]:
    """The earlier donation: tested negative, split into red cells and plasma, red cells
    shipped to H01 and transfused to RECIPIENT, plasma shipped to H02 and still in stock. Its
    fridge ran warm for 10 minutes while the unit sat in it."""
    d = SPLIT_DIN
    return [
        collected(d, T0),
        produced(d, RED, "red_cells", 280, h(3), 35),
        produced(d, PLASMA, "plasma", 200, h(3), 365),
        lab_result(d, h(4), 1),
        lab_result(d, h(6), 2),
        unit_event("unit.released", d, h(8)),
        unit_event(
            "unit.stored", d, h(9), product_code=RED, location_id="L1", equipment_id="FR-01"
        ),
        unit_event(
            "unit.stored", d, h(9), product_code=PLASMA, location_id="L2", equipment_id="FZ-01"
        ),
        reading("FR-01", h(9.5), 4.0),
        reading("FR-01", h(10), 8.5),
        reading("FR-01", h(10) + timedelta(minutes=5), 9.0),
        reading("FR-01", h(10) + timedelta(minutes=10), 4.5),
        unit_event(
            "unit.shipped", d, h(24), product_code=RED, shipment_id="SH1", to_facility_id="H01"
        ),
        unit_event(
            "unit.received",
            d,
            h(26),
            "H01",
            product_code=RED,
            shipment_id="SH1",
            from_facility_id="BS01",
            temperature_c=4.0,
        ),
        unit_event(
            "crossmatch.performed",
            d,
            h(48),
            "H01",
            product_code=RED,
            recipient_id=RECIPIENT,
            recipient_abo_rh="A+",
            compatible=True,
        ),
        unit_event(
            "unit.issued", d, h(49), "H01", product_code=RED, recipient_id=RECIPIENT, ward="ICU"
        ),
        unit_event(
            "unit.transfused",
            d,
            h(50),
            "H01",
            product_code=RED,
            recipient_id=RECIPIENT,
            recipient_abo_rh="A+",
            ward="ICU",
            indication="post-operative anaemia",
        ),
        unit_event(
            "unit.shipped", d, h(72), product_code=PLASMA, shipment_id="SH2", to_facility_id="H02"
        ),
        unit_event(
            "unit.received",
            d,
            h(75),
            "H02",
            product_code=PLASMA,
            shipment_id="SH2",
            from_facility_id="BS01",
        ),
    ]


def reactive_donation() -> list[dict[str, Any]]:
    """200 days later, the same donor: anti-HIV reactive in round 1, confirmed in round 2
    (CLIA) and by HIV-RNA NAT."""
    d = INDEX_DIN
    return [
        collected(d, INDEX_T0),
        produced(d, RED, "red_cells", 280, h(3, INDEX_T0), 35),
        lab_result(d, h(4, INDEX_T0), 1, reactive=("anti-HIV",)),
        lab_result(d, h(6, INDEX_T0), 2, reactive=("anti-HIV", "HIV-RNA")),
    ]


# Alert scenarios: each unit breaks one rule. Sequence numbers 201+.
def alert_units() -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    base = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)

    def donor(n: int) -> str:
        return pseudonymise(f"ALERT-DONOR-{n}", KEY)

    d = make_din("G1234", 26, 201)  # issued, never released
    out["unit.issued_unreleased"] = [
        collected(d, base, donor(1)),
        unit_event("unit.issued", d, h(5, base), "H01", ward="ER"),
    ]
    d = make_din("G1234", 26, 202)  # A+ red cells to an O+ recipient
    out["transfusion.abo_incompatible"] = [
        collected(d, base, donor(2), abo_rh="A+"),
        produced(d, RED, "red_cells", 280, h(2, base), 35, "A+"),
        unit_event("unit.released", d, h(8, base)),
        unit_event(
            "unit.transfused",
            d,
            h(30, base),
            "H01",
            product_code=RED,
            recipient_id=RECIPIENT,
            recipient_abo_rh="O+",
            ward="ICU",
            indication="x",
        ),
    ]
    d = make_din("G1234", 26, 203)  # transfused a day after its expiry
    out["unit.issued_expired"] = [
        collected(d, base, donor(3)),
        produced(d, RED, "red_cells", 280, h(2, base), 35),
        unit_event("unit.released", d, h(8, base)),
        unit_event(
            "unit.transfused",
            d,
            h(2 + 36 * 24, base),
            "H01",
            product_code=RED,
            recipient_id=RECIPIENT,
            recipient_abo_rh="O+",
            ward="ICU",
            indication="x",
        ),
    ]
    d = make_din("G1234", 26, 204)  # 650 ml of components from a 400 ml donation
    out["component.volume_exceeds_donation"] = [
        collected(d, base, donor(4)),
        produced(d, RED, "red_cells", 400, h(2, base), 35),
        produced(d, PLASMA, "plasma", 250, h(2, base), 365),
    ]
    d = make_din("G1234", 26, 205)  # transfused before it was received
    out["unit.impossible_order"] = [
        collected(d, base, donor(5)),
        produced(d, RED, "red_cells", 280, h(2, base), 35),
        unit_event("unit.released", d, h(8, base)),
        unit_event(
            "unit.shipped", d, h(20, base), product_code=RED, shipment_id="S5", to_facility_id="H01"
        ),
        unit_event(
            "unit.received",
            d,
            h(30, base),
            "H01",
            product_code=RED,
            shipment_id="S5",
            from_facility_id="BS01",
        ),
        unit_event(
            "unit.transfused",
            d,
            h(25, base),
            "H01",
            product_code=RED,
            recipient_id=RECIPIENT,
            recipient_abo_rh="O+",
            ward="ICU",
            indication="x",
        ),
    ]
    d = make_din("G1234", 26, 206)  # released, then a reactive result, issued anyway
    out["unit.issued_reactive"] = [
        collected(d, base, donor(6)),
        unit_event("unit.released", d, h(2, base)),
        lab_result(d, h(3, base), 1, reactive=("anti-TP",)),
        unit_event("unit.issued", d, h(20, base), "H01", ward="ER"),
    ]
    d1, d2 = make_din("G1234", 26, 207), make_din("G1234", 26, 208)  # 60 days apart
    out["donation.interval"] = [
        collected(d1, base, donor(7)),
        collected(d2, base + timedelta(days=60), donor(7)),
    ]
    d = make_din("G1234", 26, 209)  # a 17-year-old
    out["donation.age"] = [collected(d, base, donor(8), donor_age=17, first_time=True)]
    d = make_din("G1234", 26, 210)  # red cells expired in March 2026, never disposed of
    out["unit.lost"] = [
        collected(d, base, donor(9)),
        produced(d, RED, "red_cells", 280, h(2, base), 35),
        unit_event("unit.released", d, h(8, base)),
    ]
    return out
