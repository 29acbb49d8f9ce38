"""Event contracts: one envelope, one payload model per step of a unit's life.

An event on the wire (JSON)::

    {"event_id": "…uuid…", "type": "donation.collected", "schema_version": 1,
     "occurred_at": "2026-03-01T08:30:00Z", "recorded_at": "2026-03-01T08:30:05Z",
     "facility_id": "BS01", "payload": {...}}

DINs travel with their check character (14 characters) and are stored as the 13-character code.
Donor and recipient identities are pseudonyms (``ps_`` + 32 hex) only; see models.pseudonym.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Literal, Union
from uuid import UUID

from pydantic import (
    AfterValidator,
    AllowInfNan,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    TypeAdapter,
)

from models.errors import InvalidIdentifier
from models.isbt128 import ABO_RH_GROUPS, parse_abo_rh, parse_din, parse_product_code
from models.pseudonym import is_pseudonym

CURRENT_SCHEMA_VERSION = 1


# ---- field types -------------------------------------------------------------------------
@lru_cache(maxsize=1 << 18)  # a unit's DIN recurs in every event of its life
def _din(value: str) -> str:
    if value != value.upper() or " " in value:
        # People may type a DIN loosely (trace lookups accept that); events carry it as printed.
        raise ValueError("din_format: a DIN is sent as printed: upper-case, without spaces")
    try:
        return parse_din(value, require_check=True).code
    except InvalidIdentifier as exc:
        # The "din_check:" prefix lets validation name the reason precisely.
        raise ValueError(f"{exc.fields.get('reason', 'din')}: {exc.message}") from exc


@lru_cache(maxsize=1 << 18)
def _product(value: str) -> str:
    try:
        return parse_product_code(value).code
    except InvalidIdentifier as exc:
        raise ValueError(exc.message) from exc


@lru_cache(maxsize=1 << 18)
def _group(value: str) -> str:
    try:
        return parse_abo_rh(value)
    except InvalidIdentifier as exc:
        raise ValueError(exc.message) from exc


@lru_cache(maxsize=1 << 18)
def _pseudonym(value: str) -> str:
    if not is_pseudonym(value):
        raise ValueError(
            "not_pseudonymised: identities must be pseudonyms (ps_ + 32 hex); "
            "pseudonymise national ID numbers with the SDK before sending"
        )
    return value


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


Din = Annotated[str, AfterValidator(_din)]
ProductCodeStr = Annotated[str, AfterValidator(_product)]
AboRh = Annotated[str, AfterValidator(_group)]
Pseudonym = Annotated[str, AfterValidator(_pseudonym)]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,40}$")]
FacilityId = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9_-]{1,31}$")]
Text = Annotated[str, StringConstraints(max_length=500)]
# Numbers and flags are what the contract says they are: "2", 2.0 or true is not the integer 2,
# and "yes" or 1 is not a boolean (pydantic's lax mode would convert them silently).
Int = Annotated[int, Strict()]
Number = Annotated[float, Strict(), AllowInfNan(False)]
Flag = Annotated[bool, Strict()]


class DonationKind(StrEnum):
    whole_blood = "whole_blood"
    apheresis_platelets = "apheresis_platelets"
    apheresis_plasma = "apheresis_plasma"


class SiteKind(StrEnum):
    fixed_house = "fixed_house"  # 献血屋
    mobile_vehicle = "mobile_vehicle"  # 献血车
    group_drive = "group_drive"  # 团体献血


class DonorGroup(StrEnum):
    student = "student"
    employee = "employee"
    civil_servant = "civil_servant"
    rural_resident = "rural_resident"
    other = "other"


class ComponentType(StrEnum):
    whole_blood = "whole_blood"
    red_cells = "red_cells"
    washed_red_cells = "washed_red_cells"
    platelets = "platelets"
    plasma = "plasma"
    cryoprecipitate = "cryoprecipitate"


class EquipmentKind(StrEnum):
    fridge = "fridge"
    freezer = "freezer"
    platelet_agitator = "platelet_agitator"
    transport_box = "transport_box"


class DiscardCause(StrEnum):
    test_reactive = "test_reactive"
    lipemia = "lipemia"
    hemolysis = "hemolysis"
    bag_leak = "bag_leak"
    clot = "clot"
    under_volume = "under_volume"
    expired = "expired"
    cold_chain_breach = "cold_chain_breach"
    returned_out_of_control = "returned_out_of_control"
    qc_failure = "qc_failure"
    recall = "recall"
    other = "other"


class ReactionCategory(StrEnum):
    """UK SHOT-style haemovigilance categories."""

    febrile = "febrile"
    allergic = "allergic"
    anaphylaxis = "anaphylaxis"
    haemolytic = "haemolytic"
    taco = "taco"
    trali = "trali"
    tti = "tti"
    hypotensive = "hypotensive"
    incorrect_component = "incorrect_component"
    other = "other"


class Sex(StrEnum):
    male = "M"
    female = "F"


class TestMethod(StrEnum):
    elisa = "ELISA"
    clia = "CLIA"
    nat = "NAT"
    rate = "rate"  # ALT enzymatic rate method
    rapid = "rapid"


# ---- payloads ----------------------------------------------------------------------------
class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DonorRegistered(Payload):
    donor_id: Pseudonym
    birth_date: date
    sex: Sex
    abo_rh: AboRh
    donor_group: DonorGroup
    county_code: Code


class DonorDeferred(Payload):
    donor_id: Pseudonym
    reason: Text
    deferred_until: date | None = None


class DonationCollected(Payload):
    din: Din
    donor_id: Pseudonym
    donation_kind: DonationKind
    volume_ml: Int = Field(gt=0, le=1000)
    site_id: Code
    site_kind: SiteKind
    county_code: Code
    abo_rh: AboRh
    donor_group: DonorGroup
    donor_age: Int = Field(ge=16, le=70)
    donor_sex: Sex
    first_time: Flag
    # Platelet therapeutic units (apheresis): counts towards honours like 200 ml whole blood.
    therapeutic_units: Int = Field(default=0, ge=0, le=3)


class MarkerResult(Payload):
    marker: Code
    method: TestMethod
    reactive: Flag
    value: Number | None = None


class TestResultRecorded(Payload):
    din: Din
    round: Int = Field(ge=1, le=3)
    results: list[MarkerResult] = Field(min_length=1, max_length=20)


class UnitReleased(Payload):
    din: Din


class UnitQuarantined(Payload):
    din: Din
    reason: Text
    product_code: ProductCodeStr | None = None


class ComponentProduced(Payload):
    din: Din  # the parent donation
    product_code: ProductCodeStr
    component_type: ComponentType
    volume_ml: Int = Field(gt=0, le=1000)
    expires_at: UtcDatetime
    abo_rh: AboRh


class UnitStored(Payload):
    din: Din
    product_code: ProductCodeStr | None = None
    location_id: Code
    equipment_id: Code


class TemperatureRecorded(Payload):
    equipment_id: Code
    equipment_kind: EquipmentKind
    temperature_c: Number = Field(ge=-90, le=80)
    agitating: Flag | None = None
    interval_seconds: Int = Field(default=300, gt=0, le=86400)


class UnitShipped(Payload):
    din: Din
    product_code: ProductCodeStr | None = None
    shipment_id: Code
    to_facility_id: FacilityId


class UnitReceived(Payload):
    din: Din
    product_code: ProductCodeStr | None = None
    shipment_id: Code
    from_facility_id: FacilityId
    temperature_c: Number | None = Field(default=None, ge=-90, le=80)


class CrossmatchPerformed(Payload):
    din: Din
    product_code: ProductCodeStr | None = None
    recipient_id: Pseudonym
    recipient_abo_rh: AboRh
    compatible: Flag


class UnitIssued(Payload):
    din: Din
    product_code: ProductCodeStr | None = None
    recipient_id: Pseudonym | None = None
    ward: Text


class UnitReturned(Payload):
    din: Din
    product_code: ProductCodeStr | None = None
    minutes_out_of_refrigeration: Number = Field(ge=0, le=100000)


class UnitTransfused(Payload):
    din: Din
    product_code: ProductCodeStr | None = None
    recipient_id: Pseudonym
    recipient_abo_rh: AboRh
    ward: Text
    indication: Text


class ReactionReported(Payload):
    din: Din
    product_code: ProductCodeStr | None = None
    recipient_id: Pseudonym
    category: ReactionCategory
    severity: Literal["non_severe", "severe", "life_threatening", "death"] = "non_severe"


class UnitDiscarded(Payload):
    din: Din
    product_code: ProductCodeStr | None = None
    cause: DiscardCause
    volume_ml: Int = Field(default=0, ge=0, le=1000)
    note: Text = ""


class RecallOpened(Payload):
    recall_id: Code
    dins: list[Din] = Field(min_length=1, max_length=1000)
    reason: Text
    lookback_id: Code | None = None
    addressed_to: FacilityId | None = None


class LookbackAcknowledged(Payload):
    """A hospital confirms it received a lookback notice (and will notify its recipients);
    the envelope's facility_id is the hospital."""

    notice_id: Code
    lookback_id: Code
    acknowledged_by: Text = ""
    note: Text = ""


# ---- envelope ----------------------------------------------------------------------------
class EnvelopeBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: UUID
    schema_version: Int = Field(ge=1)
    occurred_at: UtcDatetime
    recorded_at: UtcDatetime
    facility_id: FacilityId


# type name -> payload model; the single source of event types.
PAYLOADS: dict[str, type[Payload]] = {
    "donor.registered": DonorRegistered,
    "donor.deferred": DonorDeferred,
    "donation.collected": DonationCollected,
    "test.result_recorded": TestResultRecorded,
    "unit.released": UnitReleased,
    "unit.quarantined": UnitQuarantined,
    "component.produced": ComponentProduced,
    "unit.stored": UnitStored,
    "storage.temperature_recorded": TemperatureRecorded,
    "unit.shipped": UnitShipped,
    "unit.received": UnitReceived,
    "crossmatch.performed": CrossmatchPerformed,
    "unit.issued": UnitIssued,
    "unit.returned": UnitReturned,
    "unit.transfused": UnitTransfused,
    "transfusion.reaction_reported": ReactionReported,
    "unit.discarded": UnitDiscarded,
    "recall.opened": RecallOpened,
    "lookback.acknowledged": LookbackAcknowledged,
}
EVENT_TYPES: tuple[str, ...] = tuple(PAYLOADS)


def _envelope_class(type_name: str, payload: type[Payload]) -> type[EnvelopeBase]:
    class_name = payload.__name__ + "Event"
    namespace: dict[str, Any] = {
        "__annotations__": {"type": Literal[type_name], "payload": payload},  # type: ignore[valid-type]
        "__module__": __name__,
    }
    return type(class_name, (EnvelopeBase,), namespace)


ENVELOPES: dict[str, type[EnvelopeBase]] = {
    name: _envelope_class(name, payload) for name, payload in PAYLOADS.items()
}

# One discriminated union over every event type: validation in one pass, in Rust.
_union: Any = Annotated[Union[tuple(ENVELOPES.values())], Field(discriminator="type")]  # noqa: UP007
EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(_union)


class Event(EnvelopeBase):
    """The static shape of any validated event (``type`` + a payload)."""

    type: str
    payload: Payload


def partition_key(event: EnvelopeBase) -> str:
    """Kafka key: the unit, so one unit's events stay in one partition and in order."""
    payload = getattr(event, "payload", None)
    for attr in ("din", "equipment_id", "donor_id", "recall_id", "notice_id"):
        value = getattr(payload, attr, None)
        if value:
            return str(value)
    return str(event.event_id)


def event_type_of(event: EnvelopeBase) -> str:
    return str(getattr(event, "type", ""))


ALL_ABO_RH = ABO_RH_GROUPS
