"""A unit's life as state, folded from its events, and the safety rules checked on each event.

Pure: no Kafka, no warehouse. The lifecycle processor (streams/processors/lifecycle.py) keeps
one :class:`UnitState` per DIN in a Faust table and calls :func:`apply` per event; the trace and
lookback services (streams/trace.py, streams/lookback.py) fold the same events read back from
the warehouse with :func:`fold`, so a unit's status means the same everywhere.

A unit has *items*: the donation itself (code ``""``) and one per component (its product
code). Each item has a status (BSIS's states plus reserved and returned): quarantined,
available, reserved, issued, transfused, returned, expired, unsafe, discarded, processed.
An event naming a product code acts on that component; one without acts on every live item
(the components once the unit is split, else the donation). Times are epoch milliseconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson

from models.alerts import Alert
from models.compatibility import check_compatibility
from models.errors import InvalidIdentifier
from models.isbt128 import parse_abo_rh, parse_din, parse_product_code
from models.rules import LifecycleRules, ScreeningRules, StorageRules


class Status(StrEnum):
    quarantined = "quarantined"
    available = "available"
    reserved = "reserved"
    issued = "issued"
    transfused = "transfused"
    returned = "returned"
    expired = "expired"
    unsafe = "unsafe"
    discarded = "discarded"
    processed = "processed"


FINAL = frozenset({Status.transfused, Status.discarded})
# Statuses that expire with time (a unit somewhere in a fridge, usable or waiting).
SHELF = frozenset({Status.quarantined, Status.available, Status.reserved, Status.returned})
# Where a recall still has to reach: the bag exists, is not yet withheld, and could be used
# (an unsafe bag that was already on a shelf when its test turned reactive included).
RECALLABLE = frozenset(
    {
        Status.available,
        Status.reserved,
        Status.issued,
        Status.returned,
        Status.expired,
        Status.unsafe,
    }
)
# Components counted against the parent donation's volume: secondary products (washed red
# cells from red cells, cryoprecipitate from plasma) come out of a primary one.
PRIMARY_COMPONENTS = frozenset({"whole_blood", "red_cells", "platelets", "plasma"})
DONATION_ITEM_TYPE = {
    "whole_blood": "whole_blood",
    "apheresis_platelets": "platelets",
    "apheresis_plasma": "plasma",
}

# (earlier, later): the first `earlier` event of an item must come before the first `later`.
ORDER = (
    ("produced", "shipped"),
    ("produced", "received"),
    ("produced", "crossmatched"),
    ("produced", "issued"),
    ("produced", "transfused"),
    ("shipped", "received"),
    ("received", "crossmatched"),
    ("received", "issued"),
    ("received", "transfused"),
    ("issued", "returned"),
    ("issued", "transfused"),
    ("transfused", "reaction"),
)
STEP = {
    "component.produced": "produced",
    "unit.shipped": "shipped",
    "unit.received": "received",
    "crossmatch.performed": "crossmatched",
    "unit.issued": "issued",
    "unit.returned": "returned",
    "unit.transfused": "transfused",
    "transfusion.reaction_reported": "reaction",
    "unit.discarded": "discarded",
}
UNIT_EVENTS = frozenset(
    {
        "donation.collected",
        "test.result_recorded",
        "unit.released",
        "unit.quarantined",
        "component.produced",
        "unit.stored",
        "unit.shipped",
        "unit.received",
        "crossmatch.performed",
        "unit.issued",
        "unit.returned",
        "unit.transfused",
        "transfusion.reaction_reported",
        "unit.discarded",
    }
)
RECENT_IDS = 16  # event ids remembered per unit, to drop an event delivered twice


# ---- time ---------------------------------------------------------------------------------
def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def iso(ms: int | None) -> str | None:
    return None if not ms else from_ms(ms).isoformat().replace("+00:00", "Z")


def _parse_time(text: str) -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return to_ms(moment)


# ---- facts: the part of an event the lifecycle needs ---------------------------------------
@dataclass(frozen=True)
class Fact:
    event_id: str
    type: str
    at: int  # occurred_at, epoch ms
    facility_id: str
    din: str  # 13 characters
    product_code: str
    payload: dict[str, Any]


def fact_from_wire(raw: bytes | str | dict[str, Any]) -> Fact | None:
    """The fact of a validated wire event about a unit, or None for other events.

    Identifiers are normalised as the warehouse stores them (13-character DIN, product code
    without ``=<``), because the raw bytes carry them as the emitter spelt them.
    """
    obj = raw if isinstance(raw, dict) else orjson.loads(raw)
    event_type = obj.get("type", "")
    if event_type not in UNIT_EVENTS:
        return None
    payload = obj.get("payload") or {}
    try:
        din = parse_din(str(payload.get("din", ""))).code
        product = payload.get("product_code")
        product_code = parse_product_code(product).code if product else ""
    except InvalidIdentifier:
        return None  # cannot happen for validated events; never crash a stream on one
    return Fact(
        event_id=str(obj.get("event_id", "")),
        type=event_type,
        at=_parse_time(str(obj["occurred_at"])),
        facility_id=str(obj.get("facility_id", "")),
        din=din,
        product_code=product_code,
        payload=payload,
    )


def fact_from_row(
    event_id: str,
    event_type: str,
    at: int,
    facility_id: str,
    din: str,
    product_code: str,
    body: bytes | str,
) -> Fact:
    """The fact of a warehouse row (identifiers already normalised, payload as JSON)."""
    return Fact(event_id, event_type, at, facility_id, din, product_code, orjson.loads(body))


# ---- state -----------------------------------------------------------------------------------
@dataclass
class Item:
    """The donation itself (code '') or one component of it."""

    code: str
    kind: str = ""  # component type (whole_blood, red_cells, ...)
    volume_ml: int = 0
    abo_rh: str = ""
    expires_at: int = 0
    status: str = Status.quarantined
    status_at: int = 0
    holder: str = ""  # facility holding it (the destination while in transit)
    in_transit: bool = False
    recipient: str = ""
    firsts: dict[str, int] = field(default_factory=dict)  # step -> earliest time seen

    def status_now(self, now_ms: int) -> str:
        if self.status in SHELF and self.expires_at and now_ms > self.expires_at:
            return str(Status.expired)
        return str(self.status)

    def to_json(self) -> dict[str, Any]:
        return {
            "k": self.kind,
            "v": self.volume_ml,
            "g": self.abo_rh,
            "x": self.expires_at,
            "s": self.status,
            "sa": self.status_at,
            "h": self.holder,
            "t": self.in_transit,
            "r": self.recipient,
            "f": self.firsts,
        }

    @classmethod
    def from_json(cls, code: str, data: dict[str, Any]) -> Item:
        return cls(
            code,
            data["k"],
            data["v"],
            data["g"],
            data["x"],
            data["s"],
            data["sa"],
            data["h"],
            data["t"],
            data["r"],
            data["f"],
        )


@dataclass
class UnitState:
    din: str
    donor_id: str = ""
    donation_kind: str = ""
    collected_at: int = 0
    volume_ml: int = 0
    abo_rh: str = ""
    facility: str = ""
    released_at: int = 0
    first_event_at: int = 0  # earliest event other than the donation
    reactive: list[str] = field(default_factory=list)  # markers reactive in any round
    confirmed: list[str] = field(default_factory=list)  # infectious markers confirmed
    confirmed_by: str = ""  # "round 2", "NAT"
    confirmed_at: int = 0
    negative_rounds: list[int] = field(default_factory=list)  # no infectious marker reactive
    items: dict[str, Item] = field(default_factory=dict)
    recent: list[str] = field(default_factory=list)
    told_donor: list[str] = field(default_factory=list)  # notes sent: donation/negative/reactive
    volume_alerted: bool = False

    @property
    def components(self) -> list[Item]:
        return [item for code, item in self.items.items() if code]

    @property
    def donation(self) -> Item:
        return self.items.setdefault("", Item(""))

    def screening(self, rounds_required: int) -> str:
        """'reactive' (any marker, ALT included), 'negative' (released, or every required
        round negative) or 'pending'."""
        if self.reactive:
            return "reactive"
        return self.infection_screening((), rounds_required)

    def infection_screening(self, infectious: Collection[str], rounds_required: int) -> str:
        """The same for infection only (a high ALT is no infection): what a lookback window
        and the donor's history go by."""
        if set(self.reactive) & set(infectious):
            return "reactive"
        if self.released_at or len(set(self.negative_rounds)) >= rounds_required:
            return "negative"
        return "pending"

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "d": self.donor_id,
                "dk": self.donation_kind,
                "ca": self.collected_at,
                "v": self.volume_ml,
                "g": self.abo_rh,
                "f": self.facility,
                "ra": self.released_at,
                "fe": self.first_event_at,
                "rx": self.reactive,
                "cf": self.confirmed,
                "cb": self.confirmed_by,
                "cat": self.confirmed_at,
                "nr": self.negative_rounds,
                "i": {code: item.to_json() for code, item in self.items.items()},
                "re": self.recent,
                "td": self.told_donor,
                "va": self.volume_alerted,
            }
        )

    @classmethod
    def from_bytes(cls, din: str, raw: bytes) -> UnitState:
        d = orjson.loads(raw)
        return cls(
            din,
            d["d"],
            d["dk"],
            d["ca"],
            d["v"],
            d["g"],
            d["f"],
            d["ra"],
            d["fe"],
            d["rx"],
            d["cf"],
            d["cb"],
            d["cat"],
            d["nr"],
            {code: Item.from_json(code, item) for code, item in d["i"].items()},
            d["re"],
            d["td"],
            d["va"],
        )


@dataclass(frozen=True)
class Policy:
    """The rules the lifecycle applies, from the settings' sections."""

    storage: StorageRules = field(default_factory=StorageRules)
    screening: ScreeningRules = field(default_factory=ScreeningRules)
    lifecycle: LifecycleRules = field(default_factory=LifecycleRules)
    component_allowance: float = 0.35  # QualityRules.component_additive_allowance

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        return cls(
            storage=settings.storage,
            screening=settings.screening,
            lifecycle=settings.lifecycle,
            component_allowance=settings.quality.component_additive_allowance,
        )

    def shelf_life_ms(self, component_type: str) -> int:
        rule = self.storage.components.get(component_type)
        return rule.shelf_life_hours * 3_600_000 if rule else 0


@dataclass(frozen=True)
class DonorNote:
    """What the donor side must learn about one of the donor's donations."""

    kind: str  # "donation" | "screen"
    donor_id: str
    din: str
    at: int
    facility_id: str
    data: dict[str, Any]

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "kind": self.kind,
                "donor_id": self.donor_id,
                "din": self.din,
                "at": self.at,
                "facility_id": self.facility_id,
                **self.data,
            }
        )


@dataclass
class Outcome:
    alerts: list[Alert] = field(default_factory=list)
    notes: list[DonorNote] = field(default_factory=list)


# ---- alerts ----------------------------------------------------------------------------------
def _alert(
    rule: str,
    severity: str,
    fact: Fact,
    state: UnitState,
    en: str,
    zh: str,
    evidence: dict[str, Any],
    *,
    product_code: str = "",
    dedup: str = "",
) -> Alert:
    return Alert(
        rule=rule,
        severity=severity,  # type: ignore[arg-type]
        subject=fact.din,
        message_en=en,
        message_zh=zh,
        occurred_at=from_ms(fact.at),
        din=fact.din,
        product_code=product_code,
        facility_id=fact.facility_id,
        donor_id=state.donor_id,
        evidence={"event_id": fact.event_id, "event_type": fact.type, **evidence},
        dedup_key=dedup or f"{product_code}|{fact.event_id}",
    )


def _label(din: str, code: str) -> str:
    return f"{din} {code}".strip()


# ---- the fold ----------------------------------------------------------------------------------
def new_state(din: str) -> UnitState:
    return UnitState(din)


def _targets(state: UnitState, fact: Fact) -> list[Item]:
    """The items an event acts on."""
    if fact.product_code:
        item = state.items.get(fact.product_code)
        if item is None:
            # A product known only from a later step: its production event is missing or late.
            # If the unit was never split, the labelled bag is the donation itself.
            parent = state.donation
            if state.reactive:
                status = Status.unsafe
            else:
                status = Status.available if state.released_at else Status.quarantined
            item = Item(fact.product_code, abo_rh=state.abo_rh, status=status)
            if not state.components and parent.status not in FINAL:
                item.kind, item.volume_ml = parent.kind, parent.volume_ml
                item.expires_at, item.holder = parent.expires_at, parent.holder
                item.status, item.status_at = parent.status, parent.status_at
                parent.status = Status.processed
            state.items[fact.product_code] = item
        return [item]
    components = state.components
    pool = components if components else [state.donation]
    live = [item for item in pool if item.status not in FINAL]
    return live or pool


def _set_status(item: Item, status: str, at: int, *, keep_unsafe: bool = True) -> None:
    """Move an item to a status unless a later event already decided it (late arrival)."""
    if at < item.status_at:
        return
    if keep_unsafe and item.status == Status.unsafe and status in SHELF:
        return  # a reactive unit stays unsafe whatever the paperwork says
    item.status = status
    item.status_at = at


def remembered_id(event_id: str) -> str:
    """How a unit remembers an event: 12 hex digits of a hash of the whole id (a prefix of
    the id took sequential ids, and UUIDv7 made in one millisecond, for one event)."""
    return hashlib.blake2b(event_id.encode(), digest_size=6).hexdigest() if event_id else ""


def apply(state: UnitState | None, fact: Fact, policy: Policy) -> tuple[UnitState, Outcome]:
    """Fold one event into a unit's state; the alerts it raises and what the donor side
    must hear. An event seen before (same id) changes nothing."""
    state = state or new_state(fact.din)
    out = Outcome()
    short_id = remembered_id(fact.event_id)
    if short_id and short_id in state.recent:
        return state, out
    state.recent = [*state.recent, short_id][-RECENT_IDS:]

    _check_against_donation(state, fact, out)
    handler = _HANDLERS.get(fact.type)
    if handler is not None:
        handler(state, fact, policy, out)
    _tell_donor(state, fact, policy, out)
    return state, out


def fold(facts: list[Fact], policy: Policy) -> tuple[UnitState | None, list[Alert]]:
    """A unit's state from all its events, in time order (for trace and lookback)."""
    state: UnitState | None = None
    alerts: list[Alert] = []
    for fact in sorted(facts, key=lambda f: (f.at, f.event_id)):
        state, out = apply(state, fact, policy)
        alerts.extend(out.alerts)
    return state, alerts


def _check_against_donation(state: UnitState, fact: Fact, out: Outcome) -> None:
    """Nothing happens to a unit before it was collected."""
    if fact.type == "donation.collected":
        if state.first_event_at and state.first_event_at < fact.at:
            out.alerts.append(
                _alert(
                    "unit.impossible_order",
                    "warning",
                    fact,
                    state,
                    f"Unit {fact.din}: events are recorded before its donation "
                    f"({iso(state.first_event_at)} < collected {iso(fact.at)}).",
                    f"血袋 {fact.din}：采血时间（{iso(fact.at)}）之前已有记录"
                    f"（{iso(state.first_event_at)}），顺序不可能。",
                    {
                        "earlier": "event",
                        "later": "donation.collected",
                        "first_event_at": iso(state.first_event_at),
                        "collected_at": iso(fact.at),
                    },
                )
            )
        return
    if state.collected_at and fact.at < state.collected_at:
        out.alerts.append(
            _alert(
                "unit.impossible_order",
                "warning",
                fact,
                state,
                f"Unit {fact.din}: {fact.type} at {iso(fact.at)} is before the donation "
                f"was collected ({iso(state.collected_at)}).",
                f"血袋 {fact.din}：{fact.type} 发生在采血（{iso(state.collected_at)}）之前，"
                "顺序不可能。",
                {
                    "earlier": "donation.collected",
                    "later": fact.type,
                    "collected_at": iso(state.collected_at),
                    "occurred_at": iso(fact.at),
                },
                product_code=fact.product_code,
            )
        )
    if not state.first_event_at or fact.at < state.first_event_at:
        state.first_event_at = fact.at


def _check_order(state: UnitState, item: Item, fact: Fact, step: str, out: Outcome) -> None:
    label = _label(fact.din, item.code)
    for earlier, later in ORDER:
        wrong_at: int | None = None
        if later == step and earlier in item.firsts and item.firsts[earlier] > fact.at:
            wrong_at = item.firsts[earlier]
        elif (
            earlier == step
            and step not in item.firsts
            and later in item.firsts
            and item.firsts[later] < fact.at
        ):
            wrong_at = item.firsts[later]
        if wrong_at is None:
            continue
        out.alerts.append(
            _alert(
                "unit.impossible_order",
                "warning",
                fact,
                state,
                f"Unit {label}: {later} ({iso(fact.at if later == step else wrong_at)}) "
                f"before {earlier} ({iso(wrong_at if later == step else fact.at)}).",
                f"血袋 {label}：{_ZH_STEP.get(later, later)}早于{_ZH_STEP.get(earlier, earlier)}，"
                "顺序不可能。",
                {
                    "earlier": earlier,
                    "later": later,
                    f"{earlier}_at": iso(wrong_at if later == step else fact.at),
                    f"{later}_at": iso(fact.at if later == step else wrong_at),
                },
                product_code=item.code,
                dedup=f"{item.code}|{earlier}<{later}|{fact.event_id}",
            )
        )
    if (
        item.status in FINAL
        and fact.at > item.status_at
        and not (step == "reaction" and item.status == Status.transfused)
    ):
        out.alerts.append(
            _alert(
                "unit.impossible_order",
                "warning",
                fact,
                state,
                f"Unit {label}: {fact.type} at {iso(fact.at)} after its final disposition "
                f"({item.status} at {iso(item.status_at)}).",
                f"血袋 {label}：已{_ZH_STATUS.get(item.status, item.status)}"
                f"（{iso(item.status_at)}）后又有 {fact.type}，顺序不可能。",
                {
                    "earlier": item.status,
                    "later": fact.type,
                    "final_at": iso(item.status_at),
                    "occurred_at": iso(fact.at),
                },
                product_code=item.code,
                dedup=f"{item.code}|after-final|{fact.event_id}",
            )
        )
    if step not in item.firsts or fact.at < item.firsts[step]:
        item.firsts[step] = fact.at


# ---- handlers -----------------------------------------------------------------------------------
def _on_donation(state: UnitState, fact: Fact, policy: Policy, out: Outcome) -> None:
    p = fact.payload
    state.donor_id = str(p.get("donor_id", ""))
    state.donation_kind = str(p.get("donation_kind", "whole_blood"))
    state.collected_at = fact.at
    state.volume_ml = int(p.get("volume_ml", 0))
    state.abo_rh = _group(p.get("abo_rh"))
    state.facility = fact.facility_id
    item = state.donation
    item.kind = DONATION_ITEM_TYPE.get(state.donation_kind, "whole_blood")
    item.volume_ml = state.volume_ml
    item.abo_rh = state.abo_rh
    shelf = policy.shelf_life_ms(item.kind)
    item.expires_at = fact.at + shelf if shelf else 0
    if not item.holder:
        item.holder = fact.facility_id
    if not item.status_at:
        item.status_at = fact.at
    for component in state.components:
        component.abo_rh = component.abo_rh or state.abo_rh
    _check_volume(state, fact, policy, out)


def _on_test(state: UnitState, fact: Fact, policy: Policy, out: Outcome) -> None:
    p = fact.payload
    round_no = int(p.get("round", 1))
    results = p.get("results") or []
    screening = policy.screening
    nat = set(screening.nat_markers)
    infectious = set(screening.infectious_markers)
    reactive_now = [str(r.get("marker")) for r in results if r.get("reactive")]
    if not set(reactive_now) & infectious:
        state.negative_rounds = sorted({*state.negative_rounds, round_no})
    if not reactive_now:
        return
    state.reactive = sorted({*state.reactive, *reactive_now})
    confirmed = [
        str(r.get("marker"))
        for r in results
        if r.get("reactive")
        and str(r.get("marker")) in infectious
        and (
            round_no >= policy.lifecycle.lookback_confirm_round
            or r.get("method") == "NAT"
            or str(r.get("marker")) in nat
        )
    ]
    if confirmed:
        state.confirmed = sorted({*state.confirmed, *confirmed})
        if not state.confirmed_at or fact.at < state.confirmed_at:
            state.confirmed_at = fact.at
            nat_hit = any(m in nat for m in confirmed) or any(
                r.get("method") == "NAT" for r in results if r.get("reactive")
            )
            state.confirmed_by = "NAT" if nat_hit else f"round {round_no}"
    for item in list(state.items.values()) or [state.donation]:
        if item.status in (Status.issued, Status.transfused):
            out.alerts.append(
                _alert(
                    "unit.issued_reactive",
                    "critical",
                    fact,
                    state,
                    f"Unit {_label(fact.din, item.code)} was already {item.status} when a "
                    f"reactive test arrived ({', '.join(reactive_now)}, round {round_no}).",
                    f"血袋 {_label(fact.din, item.code)} 已{_ZH_STATUS[item.status]}，"
                    f"之后检测结果为阳性（{', '.join(reactive_now)}，第 {round_no} 轮）。",
                    {
                        "reactive_markers": reactive_now,
                        "round": round_no,
                        "status": item.status,
                        "status_at": iso(item.status_at),
                        "recipient_id": item.recipient,
                    },
                    product_code=item.code,
                )
            )
        elif item.status not in FINAL and item.status != Status.processed:
            item.status = Status.unsafe
            item.status_at = max(item.status_at, fact.at)


def _on_release(state: UnitState, fact: Fact, policy: Policy, out: Outcome) -> None:
    if not state.released_at or fact.at < state.released_at:
        state.released_at = fact.at
    if state.reactive:
        out.alerts.append(
            _alert(
                "unit.released_reactive",
                "critical",
                fact,
                state,
                f"Unit {fact.din} was released although it tested reactive "
                f"({', '.join(state.reactive)}).",
                f"血袋 {fact.din} 检测阳性（{', '.join(state.reactive)}）却被放行。",
                {"reactive_markers": state.reactive},
            )
        )
    items = state.components or [state.donation]
    for item in items:
        if item.status == Status.quarantined:
            _set_status(item, Status.available, fact.at)


def _on_quarantine(state: UnitState, fact: Fact, policy: Policy, out: Outcome) -> None:
    for item in _targets(state, fact):
        if item.status not in FINAL:
            _set_status(item, Status.quarantined, fact.at, keep_unsafe=True)


def _on_component(state: UnitState, fact: Fact, policy: Policy, out: Outcome) -> None:
    p = fact.payload
    item = state.items.get(fact.product_code) or Item(fact.product_code)
    state.items[fact.product_code] = item
    item.kind = str(p.get("component_type", ""))
    item.volume_ml = int(p.get("volume_ml", 0))
    item.abo_rh = _group(p.get("abo_rh")) or state.abo_rh
    expires = p.get("expires_at")
    item.expires_at = _parse_time(str(expires)) if expires else 0
    item.holder = item.holder or fact.facility_id
    if not item.status_at or fact.at <= item.status_at:
        if state.reactive:
            item.status = Status.unsafe
        elif state.released_at and state.released_at <= fact.at:
            item.status = Status.available
        else:
            item.status = Status.quarantined
        item.status_at = fact.at
    _check_order(state, item, fact, "produced", out)
    parent = state.donation
    if parent.status not in FINAL:
        parent.status = Status.processed
        parent.status_at = max(parent.status_at, fact.at)
    _check_volume(state, fact, policy, out)


def _check_volume(state: UnitState, fact: Fact, policy: Policy, out: Outcome) -> None:
    if state.volume_alerted or not state.volume_ml:
        return
    primary = [c for c in state.components if c.kind in PRIMARY_COMPONENTS]
    total = sum(c.volume_ml for c in primary)
    limit = state.volume_ml * (1 + policy.component_allowance)
    if total <= limit:
        return
    state.volume_alerted = True
    out.alerts.append(
        _alert(
            "component.volume_exceeds_donation",
            "warning",
            fact,
            state,
            f"Components of {fact.din} add up to {total} ml, more than the {state.volume_ml} ml "
            f"donation allows (+{policy.component_allowance:.0%} additive solution).",
            f"血袋 {fact.din} 的成分合计 {total} ml，超过采集量 {state.volume_ml} ml"
            f"（含 {policy.component_allowance:.0%} 保存液）。",
            {
                "donation_volume_ml": state.volume_ml,
                "components_volume_ml": total,
                "allowance": policy.component_allowance,
                "components": {c.code: c.volume_ml for c in primary},
            },
            dedup="volume",
        )
    )


# What every event type's handler below takes; _HANDLERS maps the types to them.
_Handler = Callable[[UnitState, Fact, Policy, Outcome], None]


def _on_move(step: str, *, in_transit: bool) -> _Handler:
    """unit.stored, unit.shipped and unit.received: where each item is now (a late arrival does
    not move it back), checked against the order of steps. A shipped item is held by where it
    goes, on the road; a stored or received one by the facility that says so."""

    def on_move(state: UnitState, fact: Fact, policy: Policy, out: Outcome) -> None:
        for item in _targets(state, fact):
            _check_order(state, item, fact, step, out)
            if fact.at >= item.status_at:
                if in_transit:
                    item.holder = str(fact.payload.get("to_facility_id", ""))
                else:
                    item.holder = fact.facility_id
                item.in_transit = in_transit

    return on_move


def _dispose(item: Item, status: str, fact: Fact) -> bool:
    """Issued, returned, transfused or discarded at the reporting facility, unless the item
    already reached a final status (then nothing changes and the answer is False)."""
    if item.status in FINAL:
        return False
    _set_status(item, status, fact.at, keep_unsafe=False)
    item.holder = fact.facility_id
    return True


def _on_crossmatch(state: UnitState, fact: Fact, policy: Policy, out: Outcome) -> None:
    for item in _targets(state, fact):
        _check_order(state, item, fact, "crossmatched", out)
        if fact.payload.get("compatible") and item.status in (Status.available, Status.returned):
            _set_status(item, Status.reserved, fact.at)
            item.recipient = str(fact.payload.get("recipient_id", ""))


def _on_issued(state: UnitState, fact: Fact, policy: Policy, out: Outcome) -> None:
    for item in _targets(state, fact):
        _check_order(state, item, fact, "issued", out)
        _check_use(state, item, fact, out)
        if _dispose(item, Status.issued, fact):
            item.in_transit = False
            item.recipient = str(fact.payload.get("recipient_id") or item.recipient)


def _on_returned(state: UnitState, fact: Fact, policy: Policy, out: Outcome) -> None:
    for item in _targets(state, fact):
        _check_order(state, item, fact, "returned", out)
        if _dispose(item, Status.returned, fact):
            item.recipient = ""


def _on_transfused(state: UnitState, fact: Fact, policy: Policy, out: Outcome) -> None:
    for item in _targets(state, fact):
        _check_order(state, item, fact, "transfused", out)
        _check_use(state, item, fact, out)
        _check_abo(state, item, fact, policy, out)
        if _dispose(item, Status.transfused, fact):
            item.in_transit = False
            item.recipient = str(fact.payload.get("recipient_id", ""))


def _on_reaction(state: UnitState, fact: Fact, policy: Policy, out: Outcome) -> None:
    for item in _targets(state, fact):
        _check_order(state, item, fact, "reaction", out)


def _on_discarded(state: UnitState, fact: Fact, policy: Policy, out: Outcome) -> None:
    for item in _targets(state, fact):
        _check_order(state, item, fact, "discarded", out)
        _dispose(item, Status.discarded, fact)


def _check_use(state: UnitState, item: Item, fact: Fact, out: Outcome) -> None:
    """A unit given out must be released, non-reactive and within its expiry."""
    verb_en = "transfused" if fact.type == "unit.transfused" else "issued"
    verb_zh = "输注" if fact.type == "unit.transfused" else "发出"
    label = _label(fact.din, item.code)
    if not state.released_at or state.released_at > fact.at:
        out.alerts.append(
            _alert(
                "unit.issued_unreleased",
                "critical",
                fact,
                state,
                f"Unit {label} was {verb_en} at {iso(fact.at)} but never released.",
                f"血袋 {label} 未经放行即被{verb_zh}（{iso(fact.at)}）。",
                {"released_at": iso(state.released_at), "status": item.status},
                product_code=item.code,
            )
        )
    if state.reactive:
        out.alerts.append(
            _alert(
                "unit.issued_reactive",
                "critical",
                fact,
                state,
                f"Unit {label} was {verb_en} although it tested reactive "
                f"({', '.join(state.reactive)}).",
                f"血袋 {label} 检测阳性（{', '.join(state.reactive)}）仍被{verb_zh}。",
                {"reactive_markers": state.reactive, "confirmed_markers": state.confirmed},
                product_code=item.code,
            )
        )
    if item.expires_at and fact.at > item.expires_at:
        out.alerts.append(
            _alert(
                "unit.issued_expired",
                "critical",
                fact,
                state,
                f"Unit {label} was {verb_en} at {iso(fact.at)}, after it expired "
                f"({iso(item.expires_at)}).",
                f"血袋 {label} 已过期（{iso(item.expires_at)}）仍被{verb_zh}（{iso(fact.at)}）。",
                {
                    "expires_at": iso(item.expires_at),
                    "occurred_at": iso(fact.at),
                    "component_type": item.kind,
                },
                product_code=item.code,
            )
        )


def _check_abo(state: UnitState, item: Item, fact: Fact, policy: Policy, out: Outcome) -> None:
    group = item.abo_rh or state.abo_rh
    recipient_group = _group(fact.payload.get("recipient_abo_rh"))
    if not group or not recipient_group:
        return
    kind = item.kind or DONATION_ITEM_TYPE.get(state.donation_kind, "whole_blood")
    result = check_compatibility(
        kind, group, recipient_group, rhd_negative_platelets=policy.lifecycle.rhd_negative_platelets
    )
    if result.compatible:
        return
    label = _label(fact.din, item.code)
    out.alerts.append(
        _alert(
            "transfusion.abo_incompatible",
            "critical",
            fact,
            state,
            f"Unit {label}: {result.reason_en}.",
            f"血袋 {label}：{result.reason_zh}。",
            {
                "component_type": kind,
                "component_abo_rh": group,
                "recipient_abo_rh": recipient_group,
                "recipient_id": str(fact.payload.get("recipient_id", "")),
                "problem": result.problem,
                "rule": result.rule,
            },
            product_code=item.code,
        )
    )


def _group(value: Any) -> str:
    if not value:
        return ""
    try:
        return parse_abo_rh(str(value))
    except InvalidIdentifier:
        return ""


def _tell_donor(state: UnitState, fact: Fact, policy: Policy, out: Outcome) -> None:
    """Once the donor is known: the donation, then its screening outcome, each once."""
    if not state.donor_id:
        return
    if "donation" not in state.told_donor:
        state.told_donor.append("donation")
        p = fact.payload if fact.type == "donation.collected" else {}
        out.notes.append(
            DonorNote(
                "donation",
                state.donor_id,
                state.din,
                state.collected_at,
                state.facility,
                {
                    "donation_kind": state.donation_kind,
                    "donor_age": p.get("donor_age"),
                    "first_time": p.get("first_time"),
                    "volume_ml": state.volume_ml,
                },
            )
        )
    if state.confirmed and "reactive" not in state.told_donor:
        state.told_donor.append("reactive")
        out.notes.append(
            DonorNote(
                "screen",
                state.donor_id,
                state.din,
                state.collected_at,
                state.facility,
                {
                    "result": "reactive",
                    "markers": state.confirmed,
                    "confirmed_by": state.confirmed_by,
                    "confirmed_at": state.confirmed_at,
                },
            )
        )
    elif (
        "negative" not in state.told_donor
        and state.infection_screening(
            policy.screening.infectious_markers, policy.screening.rounds_required
        )
        == "negative"
    ):
        state.told_donor.append("negative")
        out.notes.append(
            DonorNote(
                "screen",
                state.donor_id,
                state.din,
                state.collected_at,
                state.facility,
                {"result": "negative"},
            )
        )


_HANDLERS = {
    "donation.collected": _on_donation,
    "test.result_recorded": _on_test,
    "unit.released": _on_release,
    "unit.quarantined": _on_quarantine,
    "component.produced": _on_component,
    "unit.stored": _on_move("stored", in_transit=False),
    "unit.shipped": _on_move("shipped", in_transit=True),
    "unit.received": _on_move("received", in_transit=False),
    "crossmatch.performed": _on_crossmatch,
    "unit.issued": _on_issued,
    "unit.returned": _on_returned,
    "unit.transfused": _on_transfused,
    "transfusion.reaction_reported": _on_reaction,
    "unit.discarded": _on_discarded,
}

_ZH_STATUS = {
    "quarantined": "隔离",
    "available": "可用",
    "reserved": "已配血预留",
    "issued": "发出",
    "transfused": "输注",
    "returned": "退回",
    "expired": "过期",
    "unsafe": "不合格",
    "discarded": "报废",
    "processed": "制备成分",
}
_ZH_STEP = {
    "produced": "成分制备",
    "shipped": "发运",
    "received": "接收",
    "crossmatched": "交叉配血",
    "issued": "发血",
    "returned": "退回",
    "transfused": "输注",
    "reaction": "输血反应",
    "discarded": "报废",
    "stored": "入库",
}


# ---- lost units ----------------------------------------------------------------------------------
def lost_items(state: UnitState, now_ms: int, policy: Policy) -> list[Item]:
    """Items with no final disposition long after they expired."""
    grace = int(timedelta(days=policy.lifecycle.lost_unit_after_expiry_days).total_seconds() * 1000)
    return [
        item
        for code, item in state.items.items()
        if item.status not in FINAL
        and item.status != Status.processed
        and item.expires_at
        and now_ms > item.expires_at + grace
        and (code or not state.components)
    ]


def lost_unit_alert(state: UnitState, item: Item, now_ms: int, policy: Policy) -> Alert:
    days = policy.lifecycle.lost_unit_after_expiry_days
    label = _label(state.din, item.code)
    return Alert(
        rule="unit.lost",
        severity="warning",
        subject=state.din,
        message_en=f"Unit {label} expired {iso(item.expires_at)} and, more than {days} days "
        f"later, has no final disposition (last {item.status} at {item.holder or '?'}).",
        message_zh=f"血袋 {label} 已于 {iso(item.expires_at)} 过期，超过 {days} 天仍无最终去向"
        f"（最后状态：{_ZH_STATUS.get(item.status, item.status)}，{item.holder or '未知'}）。",
        occurred_at=from_ms(item.expires_at),
        din=state.din,
        product_code=item.code,
        facility_id=item.holder,
        donor_id=state.donor_id,
        evidence={
            "expires_at": iso(item.expires_at),
            "last_status": item.status,
            "last_status_at": iso(item.status_at),
            "holder_facility": item.holder,
            "checked_at": iso(now_ms),
            "grace_days": days,
        },
        dedup_key=item.code,
    )
