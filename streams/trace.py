"""Vein-to-vein trace: a unit's whole chain, a recipient's donors, a donor's recipients.

Table design (why a trace stays in milliseconds over tens of millions of units)
--------------------------------------------------------------------------------
- ``unit_events`` (0103) is the trace read path: every unit event again, narrow (envelope
  columns + the payload object, ZSTD), ordered by ``(din, occurred_at, event_id)``, not
  partitioned, 256-row granules. A unit's whole history is one primary-key read of one or two
  small granules. ``events`` (0001) has the same order but 8192-row granules of raw JSON split
  into monthly partitions, so the same read decompresses megabytes there. A materialized view
  on ``events`` fills it (every writer goes through ``events``), and a second one adds recall
  notices as ``recall.notice`` rows, so a trace is a single query. The trace folds those events
  with the same pure state machine as the lifecycle processor (models.lifecycle), so "where is
  it now" means the same in a trace, a lookback and an alert.
- ``unit_lineage`` (0100) is the person index: one narrow row per link (donor → donation,
  recipient → unit issued or transfused), ordered by ``(person_id, din, role, ...)``, 1024-row
  granules. "Every donation of this donor" and "every unit this recipient received" are one
  range read, then the units' histories by DIN. Views on ``donations``, ``transfusions`` and
  ``unit_issues`` fill it, whatever writes those (stream sink, load_direct, bulk SQL).
- Temperature excursions: ``temperature_readings`` is ordered by ``(equipment_id,
  occurred_at)``; one query with one key range per storage stay, only if the unit was stored.
- Point reads run with ``max_threads = 1``: for a granule or two a thread pool costs more than
  it saves. ReplacingMergeTree plus de-duplication on read make a row written twice harmless.
- ``audit_log`` (0102) is a Log table: append-only by engine (no mutations), no TTL.
Without these, a trace reads ``events`` and a recipient or donor trace scans ``events`` by
``recipient_id``/``donor_id``; bench/trace_bench.py measures both in one run.

Every request is audited (who, what, when, from where) by :func:`audited`, on both the HTTP
and the direct CLI path.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from infra.audit import append
from infra.errors import BloodtraceError, NotFound
from infra.settings import Settings
from infra.warehouse import WarehouseClient
from models.isbt128 import parse_din
from models.lifecycle import (
    Fact,
    Policy,
    UnitState,
    fact_from_row,
    fold,
    iso,
    to_ms,
)
from models.privacy import mask_short
from models.pseudonym import is_pseudonym, pseudonymise

T = TypeVar("T")

STEP_LABELS_ZH = {
    "donation.collected": "采血",
    "test.result_recorded": "检测",
    "unit.released": "放行",
    "unit.quarantined": "隔离",
    "component.produced": "成分制备",
    "unit.stored": "入库",
    "storage.excursion": "温度偏离",
    "unit.shipped": "发运",
    "unit.received": "接收",
    "crossmatch.performed": "交叉配血",
    "unit.issued": "发血",
    "unit.returned": "退回",
    "unit.transfused": "输注",
    "transfusion.reaction_reported": "输血反应",
    "unit.discarded": "报废",
    "recall.notice": "召回通知",
}
# Events that end a storage stay (the unit left that fridge).
_LEAVES = frozenset(
    {"unit.stored", "unit.shipped", "unit.issued", "unit.transfused", "unit.discarded"}
)


# ---- identifiers -----------------------------------------------------------------------------
def unit_code(text: str) -> str:
    """The 13-character DIN of a DIN typed with or without its check character."""
    return parse_din(text).code


def person_id(identifier: str, settings: Settings) -> str:
    """A donor or recipient pseudonym, from a ps_ pseudonym or a national ID number."""
    text = identifier.strip()
    if not text:
        raise NotFound("An empty identifier matches nobody.")
    if is_pseudonym(text):
        return text  # no key needed
    return pseudonymise(text, settings.pseudonym_secret())


# ---- audit -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Requester:
    """Who asked and from where, for the audit log."""

    actor: str
    channel: str  # "http" or "cli"
    client: str  # an address, or user@host for the CLI


def record_audit(
    client: WarehouseClient,
    requester: Requester,
    action: str,
    subject: str,
    outcome: str,
    detail: str = "",
) -> None:
    """Append one audit row (the only write this table ever gets) and its hash-chain link
    (infra/audit.py: `bloodtrace audit verify` finds a row altered afterwards)."""
    now = datetime.now(UTC)
    append(
        client,
        {
            "at": now.replace(microsecond=now.microsecond // 1000 * 1000),
            "request_id": uuid.uuid4(),
            # A lookup by a mistyped or raw identifier must not keep it: mask every text.
            "actor": mask_short(requester.actor, 200),
            "channel": requester.channel,
            "client": mask_short(requester.client, 200),
            "action": action,
            "subject": mask_short(subject, 200),
            "outcome": outcome,
            "detail": mask_short(detail, 500),
        },
    )


def audited(
    client: WarehouseClient,
    requester: Requester,
    action: str,
    subject: str,
    fn: Callable[[], T],
) -> T:
    """Run a lookup and record it, whether it found something, nothing or failed."""
    try:
        result = fn()
    except NotFound as exc:
        record_audit(client, requester, action, subject, "not_found", exc.message)
        raise
    except BloodtraceError as exc:
        record_audit(client, requester, action, subject, "error", exc.message)
        raise
    record_audit(client, requester, action, subject, "ok")
    return result


# ---- reading a unit's events -------------------------------------------------------------------
# Point reads: one thread is faster than spinning up a pool for a granule or two.
POINT_READ = {"max_threads": 1}


def read_units(
    client: WarehouseClient, dins: Sequence[str], *, recalls: bool = False
) -> tuple[dict[str, list[Fact]], dict[str, list[dict[str, Any]]]]:
    """Every event of each unit as facts, and its recall notices: one primary-key read of
    ``unit_events`` (recall notices are there too, as 'recall.notice' rows)."""
    if not dins:
        return {}, {}
    rows = client.query(
        "select din, occurred_at, event_id, event_type, facility_id, product_code, body "
        "from unit_events where din in {dins:Array(String)}",
        parameters={"dins": list(dins)},
        settings=POINT_READ,
    ).result_rows
    facts: dict[str, list[Fact]] = defaultdict(list)
    notices: dict[str, list[dict[str, Any]]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for din, at, event_id, event_type, facility, code, body in rows:
        if (din, str(event_id)) in seen:
            continue  # a duplicate not merged away yet
        seen.add((din, str(event_id)))
        at_ms = to_ms(_dt(at))
        if event_type == "recall.notice":
            if not recalls:
                continue
            notice = orjson.loads(body)
            notices[din].append(
                {"at": at_ms, "addressed_to": facility, "product_code": code, **notice}
            )
            continue
        facts[din].append(
            fact_from_row(str(event_id), event_type, at_ms, facility, din, code, body)
        )
    for unit in facts.values():
        unit.sort(key=lambda f: (f.at, f.event_id))
    return facts, notices


def unit_facts(client: WarehouseClient, dins: Sequence[str]) -> dict[str, list[Fact]]:
    """Every event of each unit, as facts, in time order."""
    return read_units(client, dins)[0]


def _dt(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# ---- describing steps ------------------------------------------------------------------------
def _results_text(p: dict[str, Any]) -> str:
    results = p.get("results") or []
    reactive = [f"{r.get('marker')} ({r.get('method')})" for r in results if r.get("reactive")]
    markers = ", ".join(str(r.get("marker")) for r in results)
    if reactive:
        return f"round {p.get('round')}: REACTIVE {', '.join(reactive)} (tested {markers})"
    return f"round {p.get('round')}: all negative ({markers})"


def describe(fact: Fact) -> str:
    """One line a quality officer reads: what happened to the unit."""
    p = fact.payload
    t = fact.type
    if t == "donation.collected":
        return (
            f"{p.get('volume_ml')} ml {str(p.get('donation_kind', '')).replace('_', ' ')} "
            f"from donor {p.get('donor_id')} ({p.get('abo_rh')}) at site {p.get('site_id')} "
            f"({p.get('site_kind')})"
        )
    if t == "test.result_recorded":
        return _results_text(p)
    if t == "unit.released":
        return "released for use (all tests negative)"
    if t == "unit.quarantined":
        return f"quarantined: {p.get('reason')}"
    if t == "component.produced":
        return (
            f"{p.get('component_type')} {fact.product_code}, {p.get('volume_ml')} ml "
            f"{p.get('abo_rh')}, expires {p.get('expires_at')}"
        )
    if t == "unit.stored":
        return f"stored at {p.get('location_id')} in {p.get('equipment_id')}"
    if t == "unit.shipped":
        return f"shipped to {p.get('to_facility_id')} (shipment {p.get('shipment_id')})"
    if t == "unit.received":
        temp = p.get("temperature_c")
        at_temp = f" at {temp} °C" if temp is not None else ""
        return (
            f"received from {p.get('from_facility_id')} (shipment {p.get('shipment_id')}){at_temp}"
        )
    if t == "crossmatch.performed":
        verdict = "compatible" if p.get("compatible") else "INCOMPATIBLE"
        return (
            f"crossmatch for recipient {p.get('recipient_id')} "
            f"({p.get('recipient_abo_rh')}): {verdict}"
        )
    if t == "unit.issued":
        who = f" for recipient {p.get('recipient_id')}" if p.get("recipient_id") else ""
        return f"issued to ward {p.get('ward')}{who}"
    if t == "unit.returned":
        return f"returned after {p.get('minutes_out_of_refrigeration')} min out of refrigeration"
    if t == "unit.transfused":
        return (
            f"transfused to recipient {p.get('recipient_id')} ({p.get('recipient_abo_rh')}) "
            f"in {p.get('ward')}: {p.get('indication')}"
        )
    if t == "transfusion.reaction_reported":
        return (
            f"reaction reported: {p.get('category')} ({p.get('severity', 'non_severe')}) "
            f"in recipient {p.get('recipient_id')}"
        )
    if t == "unit.discarded":
        note = f" – {p.get('note')}" if p.get("note") else ""
        return f"discarded: {p.get('cause')}{note}"
    return t


def _step(
    at: int, step: str, facility: str, product_code: str, summary: str, **extra: Any
) -> dict[str, Any]:
    return {
        "at": iso(at),
        "step": step,
        "label_zh": STEP_LABELS_ZH.get(step, step),
        "facility_id": facility,
        "product_code": product_code,
        "summary": summary,
        **extra,
    }


# ---- temperature excursions ------------------------------------------------------------------
@dataclass(frozen=True)
class Stay:
    din: str
    product_code: str
    equipment_id: str
    facility_id: str
    start: int
    end: int
    min_c: float | None
    max_c: float | None


def _stays(state: UnitState, facts: list[Fact], policy: Policy, now: int) -> list[Stay]:
    """Each time the unit (or one component) sat in a piece of equipment, with its range."""
    ordered = sorted(facts, key=lambda f: (f.at, f.event_id))
    stays = []
    for i, fact in enumerate(ordered):
        if fact.type != "unit.stored":
            continue
        end = next(
            (
                later.at
                for later in ordered[i + 1 :]
                if later.type in _LEAVES
                and (not fact.product_code or later.product_code in ("", fact.product_code))
            ),
            now,
        )
        item = state.items.get(fact.product_code) or state.items.get("")
        kind = item.kind if item and item.kind else "whole_blood"
        rule = policy.storage.components.get(kind)
        if rule is None or end <= fact.at:
            continue
        stays.append(
            Stay(
                state.din,
                fact.product_code,
                str(fact.payload.get("equipment_id", "")),
                fact.facility_id,
                fact.at,
                end,
                rule.min_c,
                rule.max_c,
            )
        )
    return stays


def excursions(client: WarehouseClient, stays: Sequence[Stay]) -> dict[str, list[dict[str, Any]]]:
    """Out-of-range readings during each stay, merged into intervals, by DIN."""
    if not stays:
        return {}
    clauses = []
    params: dict[str, Any] = {}
    for i, stay in enumerate(stays):
        params.update(
            {
                f"e{i}": stay.equipment_id,
                f"f{i}": datetime.fromtimestamp(stay.start / 1000, UTC),
                f"t{i}": datetime.fromtimestamp(stay.end / 1000, UTC),
                f"lo{i}": -1000.0 if stay.min_c is None else stay.min_c,
                f"hi{i}": 1000.0 if stay.max_c is None else stay.max_c,
            }
        )
        clauses.append(
            f"(equipment_id = {{e{i}:String}}"
            f" and occurred_at >= {{f{i}:DateTime64(3, 'UTC')}}"
            f" and occurred_at < {{t{i}:DateTime64(3, 'UTC')}}"
            f" and (temperature_c < {{lo{i}:Float64}} or temperature_c > {{hi{i}:Float64}}))"
        )
    rows = client.query(
        "select equipment_id, occurred_at, temperature_c, interval_seconds "
        f"from temperature_readings where {' or '.join(clauses)} "
        "order by equipment_id, occurred_at",
        parameters=params,
        settings=POINT_READ,
    ).result_rows
    readings: dict[str, list[tuple[int, float, int]]] = defaultdict(list)
    for equipment, at, temp, interval in rows:
        readings[equipment].append((to_ms(_dt(at)), float(temp), int(interval)))
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for stay in stays:
        inside = [r for r in readings.get(stay.equipment_id, []) if stay.start <= r[0] < stay.end]
        for group in _runs(inside):
            first, last = group[0], group[-1]
            temps = [r[1] for r in group]
            minutes = round((last[0] - first[0]) / 60000 + last[2] / 60, 1)
            allowed = _range_text(stay.min_c, stay.max_c)
            out[stay.din].append(
                {
                    "at": first[0],
                    "product_code": stay.product_code,
                    "facility_id": stay.facility_id,
                    "equipment_id": stay.equipment_id,
                    "from": iso(first[0]),
                    "to": iso(last[0]),
                    "minutes": minutes,
                    "min_c": min(temps),
                    "max_c": max(temps),
                    "readings": len(group),
                    "allowed": allowed,
                }
            )
    return out


def _runs(readings: list[tuple[int, float, int]]) -> Iterable[list[tuple[int, float, int]]]:
    """Consecutive readings (no more than two reporting intervals apart) as one excursion."""
    group: list[tuple[int, float, int]] = []
    for reading in readings:
        if group and reading[0] - group[-1][0] > 2 * group[-1][2] * 1000:
            yield group
            group = []
        group.append(reading)
    if group:
        yield group


def _range_text(lo: float | None, hi: float | None) -> str:
    if lo is None:
        return f"≤ {hi:g} °C"
    if hi is None:
        return f"≥ {lo:g} °C"
    return f"{lo:g}–{hi:g} °C"


# ---- unit trace ------------------------------------------------------------------------------
def component_view(state: UnitState, now: int) -> list[dict[str, Any]]:
    items = state.components or [state.donation]
    return [
        {
            "product_code": item.code,
            "component_type": item.kind,
            "volume_ml": item.volume_ml,
            "abo_rh": item.abo_rh or state.abo_rh,
            "expires_at": iso(item.expires_at),
            "status": item.status_now(now),
            "status_at": iso(item.status_at),
            "holder_facility": item.holder,
            "in_transit": item.in_transit,
            "recipient_id": item.recipient,
        }
        for item in items
    ]


Reader = Callable[..., tuple[dict[str, list[Fact]], dict[str, list[dict[str, Any]]]]]


def unit_traces(
    client: WarehouseClient,
    dins: Sequence[str],
    policy: Policy,
    now: int | None = None,
    *,
    reader: Reader = read_units,
) -> dict[str, dict[str, Any]]:
    """The trace of each unit that has events: one read, and one more if it was stored.
    (``reader`` lets the benchmark compare read paths.)"""
    now = now or to_ms(datetime.now(UTC))
    facts, recalls = reader(client, dins, recalls=True)
    states: dict[str, UnitState] = {}
    stays: list[Stay] = []
    for din, unit_facts_ in facts.items():
        state, _ = fold(unit_facts_, policy)
        if state is None:
            continue
        states[din] = state
        stays.extend(_stays(state, unit_facts_, policy, now))
    found = list(states)
    cold = excursions(client, stays)
    traces: dict[str, dict[str, Any]] = {}
    for din in found:
        state = states[din]
        steps = [
            _step(
                f.at,
                f.type,
                f.facility_id,
                f.product_code,
                describe(f),
                event_id=f.event_id,
                details={k: v for k, v in f.payload.items() if k != "din"},
            )
            for f in facts[din]
        ]
        for e in cold.get(din, []):
            steps.append(
                _step(
                    e["at"],
                    "storage.excursion",
                    e["facility_id"],
                    e["product_code"],
                    f"temperature excursion in {e['equipment_id']}: {e['min_c']:g} to "
                    f"{e['max_c']:g} °C for {e['minutes']:g} min ({e['readings']} readings; "
                    f"allowed {e['allowed']})",
                    details={k: v for k, v in e.items() if k != "at"},
                )
            )
        for r in recalls.get(din, []):
            steps.append(
                _step(
                    r["at"],
                    "recall.notice",
                    r["addressed_to"],
                    r["product_code"],
                    f"recall notice {r['recall_id']} to {r['addressed_to']}: {r['reason']}",
                    details={k: v for k, v in r.items() if k != "at"},
                )
            )
        steps.sort(key=lambda s: (s["at"] or "", s["step"], s["product_code"]))
        components = component_view(state, now)
        traces[din] = {
            "din": din,
            "din_with_check": parse_din(din).full,
            "donor_id": state.donor_id,
            "collected_at": iso(state.collected_at),
            "collected_by": state.facility,
            "donation_kind": state.donation_kind,
            "volume_ml": state.volume_ml,
            "abo_rh": state.abo_rh,
            "released_at": iso(state.released_at),
            "screening": state.screening(policy.screening.rounds_required),
            "reactive_markers": state.reactive,
            "status": state.donation.status_now(now),
            "components": components,
            "recipients": sorted({c["recipient_id"] for c in components if c["recipient_id"]}),
            "excursions": [{k: v for k, v in e.items() if k != "at"} for e in cold.get(din, [])],
            "steps": steps,
        }
    return traces


def unit_trace(
    client: WarehouseClient, din_text: str, settings: Settings, now: int | None = None
) -> dict[str, Any]:
    """GET /v1/units/{din}/trace and `bloodtrace trace DIN`."""
    din = unit_code(din_text)
    traces = unit_traces(client, [din], Policy.from_settings(settings), now)
    if din not in traces:
        raise NotFound(
            f"No events for unit {din}.",
            hint="Check the DIN (the check character is optional); "
            "events may still be on their way if it was just collected.",
            din=din,
        )
    return traces[din]


# ---- backward and forward ------------------------------------------------------------------------
def _links(client: WarehouseClient, person: str, roles: Sequence[str]) -> list[tuple[Any, ...]]:
    return [
        tuple(row)
        for row in client.query(
            "select distinct din, role, product_code, occurred_at, facility_id from unit_lineage "
            "where person_id = {p:String} and role in {roles:Array(String)} "
            "order by occurred_at, din, product_code",
            parameters={"p": person, "roles": list(roles)},
            settings=POINT_READ,
        ).result_rows
    ]


def recipient_trace(
    client: WarehouseClient, identifier: str, settings: Settings, now: int | None = None
) -> dict[str, Any]:
    """Backward: every donation whose components this recipient was given, and its donor."""
    recipient = person_id(identifier, settings)
    links = _links(client, recipient, ("transfused", "issued"))
    if not links:
        raise NotFound(
            "No unit was issued or transfused to this recipient.",
            hint="Give the recipient's ps_ pseudonym or national ID number.",
            recipient_id=recipient,
        )
    dins = list(dict.fromkeys(row[0] for row in links))
    traces = unit_traces(client, dins, Policy.from_settings(settings), now)
    transfused = {(row[0], row[2]) for row in links if row[1] == "transfused"}
    received = []
    for din, role, code, at, facility in links:
        if role == "issued" and (din, code) in transfused:
            continue  # the transfusion row says it all
        trace = traces.get(din, {})
        component: dict[str, Any] = next(
            (c for c in trace.get("components", []) if c["product_code"] == code), {}
        )
        received.append(
            {
                "din": din,
                "product_code": code,
                "component_type": component.get("component_type", ""),
                "abo_rh": component.get("abo_rh", ""),
                "role": role,
                "at": iso(to_ms(_dt(at))),
                "facility_id": facility,
                "donor_id": trace.get("donor_id", ""),
                "collected_at": trace.get("collected_at"),
                "collected_by": trace.get("collected_by", ""),
            }
        )
    return {
        "recipient_id": recipient,
        "received": received,
        "donors": sorted({r["donor_id"] for r in received if r["donor_id"]}),
        "units": [traces[d] for d in dins if d in traces],
    }


def donor_trace(
    client: WarehouseClient, identifier: str, settings: Settings, now: int | None = None
) -> dict[str, Any]:
    """Forward: every donation of this donor and where each component went."""
    donor = person_id(identifier, settings)
    links = _links(client, donor, ("donor",))
    if not links:
        raise NotFound(
            "No donation by this donor.",
            hint="Give the donor's ps_ pseudonym or national ID number.",
            donor_id=donor,
        )
    dins = list(dict.fromkeys(row[0] for row in links))
    policy = Policy.from_settings(settings)
    traces = unit_traces(client, dins, policy, now)
    lookbacks = client.query(
        "select lookback_id, index_din, opened_at from lookbacks where donor_id = {p:String} "
        "order by opened_at limit 1 by lookback_id",
        parameters={"p": donor},
        settings=POINT_READ,
    ).result_rows
    donations = [
        {
            "din": din,
            "collected_at": traces[din]["collected_at"],
            "collected_by": traces[din]["collected_by"],
            "donation_kind": traces[din]["donation_kind"],
            "screening": traces[din]["screening"],
            "status": traces[din]["status"],
            "components": traces[din]["components"],
            "recipients": traces[din]["recipients"],
        }
        for din in dins
        if din in traces
    ]
    return {
        "donor_id": donor,
        "donations": donations,
        "recipients": sorted({r for d in donations for r in d["recipients"]}),
        "lookbacks": [
            {"lookback_id": lb, "index_din": din, "opened_at": iso(to_ms(_dt(at)))}
            for lb, din, at in lookbacks
        ],
        "units": [traces[d] for d in dins if d in traces],
    }
