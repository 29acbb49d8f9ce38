"""Lookback and recall: when a donor's infectious marker is confirmed reactive, find every
earlier donation in the window, every component made from them, where each is now and who
received it; send a recall notice for each component still in stock to the facility holding
it; track each until it is quarantined or discarded.

The lifecycle processor calls :func:`open_lookback` (in the warehouse thread) for each
confirmed reactive donation, once. The window is ``lifecycle.lookback_window_days`` before the
index donation, or by default back to (and including) the donor's last negative donation: an
infection can sit in the window period of that last negative test. The scope is computed from
the warehouse (``unit_lineage`` by donor, then ``unit_events`` by DIN, folded with
models.lifecycle), so donations loaded in bulk or before the processor ran count too.

What is stored (migration 0101) is the lookback as opened: ``lookbacks`` (one row),
``lookback_units`` (each donation and component in scope, with its status then) and
``recall_notices`` (each recalled component, by DIN). Where each recalled component is *now*
is folded live from ``events`` when a lookback is shown or listed, so the tracking is never
stale: a recalled component counts as resolved once quarantined or discarded (or if it had
already been transfused, which makes it a recipient notification instead).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from infra.errors import NotFound
from infra.settings import Settings
from infra.warehouse import WarehouseClient
from models.alerts import Alert
from models.donor_history import LookbackRequest
from models.isbt128 import parse_din
from models.lifecycle import RECALLABLE, Policy, Status, UnitState, fold, from_ms, iso, to_ms
from streams.lookback_notices import NOTICE_COLUMNS as HOSPITAL_NOTICE_COLUMNS
from streams.lookback_notices import notice_status, plan_notices
from streams.sinks.warehouse import WarehouseSink
from streams.trace import POINT_READ, _dt, unit_facts

RESOLVED = frozenset({Status.quarantined, Status.discarded})
_NOTICE_NAMESPACE = uuid.UUID("8d6e39f2-3b7c-4f0e-9a51-5b0c4e1f7a10")

LOOKBACK_COLUMNS = [
    "lookback_id",
    "donor_id",
    "index_din",
    "markers",
    "confirmed_by",
    "detected_at",
    "opened_at",
    "window_rule",
    "window_start",
    "facility_id",
    "donations",
    "components",
    "recipients",
    "recalls",
    "src_partition",
    "src_offset",
]
UNIT_COLUMNS = [
    "lookback_id",
    "din",
    "product_code",
    "component_type",
    "role",
    "collected_at",
    "status_at_open",
    "holder_facility",
    "recipient_id",
    "recall_id",
    "src_partition",
    "src_offset",
]
NOTICE_COLUMNS = [
    "recall_id",
    "lookback_id",
    "addressed_to",
    "din",
    "product_code",
    "reason",
    "sent_at",
    "event_id",
    "src_partition",
    "src_offset",
]


@dataclass
class ScopeItem:
    din: str
    product_code: str
    component_type: str
    status: str
    holder: str
    in_transit: bool
    recipient: str


@dataclass
class ScopeDonation:
    din: str
    collected_at: int
    facility: str
    role: str  # "index" or "earlier"
    screening: str
    items: list[ScopeItem] = field(default_factory=list)


@dataclass
class Scope:
    donor_id: str
    index_din: str
    index_at: int
    window_rule: str
    window_start: int | None
    donations: list[ScopeDonation]

    @property
    def items(self) -> list[ScopeItem]:
        return [item for d in self.donations for item in d.items]

    @property
    def recipients(self) -> list[str]:
        return sorted({i.recipient for i in self.items if i.recipient})


def lookback_id_for(donor_id: str, index_din: str) -> str:
    return "LB-" + hashlib.sha256(f"{donor_id}|{index_din}".encode()).hexdigest()[:12]


def recall_id_for(lookback_id: str, facility: str) -> str:
    return "RC-" + hashlib.sha256(f"{lookback_id}|{facility}".encode()).hexdigest()[:12]


def _items(state: UnitState, now: int) -> list[ScopeItem]:
    items = state.components or [state.donation]
    return [
        ScopeItem(
            state.din,
            item.code,
            item.kind,
            item.status_now(now),
            item.holder or state.facility,
            item.in_transit,
            item.recipient if item.status in (Status.transfused, Status.issued) else "",
        )
        for item in items
    ]


def lookback_scope(
    client: WarehouseClient,
    donor_id: str,
    index_din: str,
    policy: Policy,
    *,
    window_days: int | None = None,
    now: int | None = None,
) -> Scope:
    """The donations, components and recipients a lookback covers, as they are now."""
    now = now or to_ms(datetime.now(UTC))
    infectious, rounds = policy.screening.infectious_markers, policy.screening.rounds_required
    dins = [
        row[0]
        for row in client.query(
            "select distinct din from unit_lineage where person_id = {p:String} and role = 'donor'",
            parameters={"p": donor_id},
            settings=POINT_READ,
        ).result_rows
    ]
    if index_din not in dins:
        dins.append(index_din)
    states: dict[str, UnitState] = {}
    for din, facts in unit_facts(client, dins).items():
        state, _ = fold(facts, policy)
        if state is not None and (state.collected_at or din == index_din):
            states[din] = state
    index = states.get(index_din)
    index_at = index.collected_at if index and index.collected_at else now
    earlier = sorted(
        (s for d, s in states.items() if d != index_din and s.collected_at < index_at),
        key=lambda s: s.collected_at,
    )
    if window_days is not None:
        rule = f"{window_days} days"
        start: int | None = index_at - int(timedelta(days=window_days).total_seconds() * 1000)
    else:
        rule = "last negative donation"
        negatives = [s for s in earlier if s.infection_screening(infectious, rounds) == "negative"]
        start = negatives[-1].collected_at if negatives else None
    in_window = [s for s in earlier if start is None or s.collected_at >= start]
    donations = [
        ScopeDonation(
            s.din,
            s.collected_at,
            s.facility,
            "earlier",
            s.infection_screening(infectious, rounds),
            _items(s, now),
        )
        for s in in_window
    ]
    if index is not None:
        donations.append(
            ScopeDonation(
                index.din,
                index.collected_at,
                index.facility,
                "index",
                index.infection_screening(infectious, rounds),
                _items(index, now),
            )
        )
    return Scope(donor_id, index_din, index_at, rule, start, donations)


# ---- opening --------------------------------------------------------------------------------
@dataclass
class Opened:
    lookback_id: str
    scope: Scope
    notices: list[tuple[bytes, bytes]]  # (key, wire event) for the recalls topic
    tables: dict[str, tuple[list[str], list[tuple[Any, ...]]]]
    alert: Alert
    # (hospital, notice) for the notices topic: each hospital that issued or transfused a
    # component in scope (streams/lookback_notices.py).
    hospital_notices: list[tuple[bytes, bytes]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Nothing to look back on (a first-time donor) and nothing to recall: most
        reactive donations; the station already holds the index unit."""
        return not self.notices and not any(d.role == "earlier" for d in self.scope.donations)


def plan_lookback(
    client: WarehouseClient,
    request: LookbackRequest,
    settings: Settings,
    *,
    partition: int,
    offset: int,
    now: int | None = None,
) -> Opened:
    """Everything opening a lookback writes and sends (nothing written yet)."""
    now = now or to_ms(datetime.now(UTC))
    policy = Policy.from_settings(settings)
    scope = lookback_scope(
        client,
        request.donor_id,
        request.index_din,
        policy,
        window_days=settings.lifecycle.lookback_window_days,
        now=now,
    )
    lookback_id = lookback_id_for(request.donor_id, request.index_din)
    markers = ", ".join(request.markers)
    reason = (
        f"lookback {lookback_id}: donor confirmed reactive for {markers} "
        f"({request.confirmed_by}) on donation {request.index_din}"
    )
    recalled: dict[str, list[ScopeItem]] = {}
    for donation in scope.donations:
        for item in donation.items:
            if item.status not in RECALLABLE:
                continue
            if donation.role == "index" and item.holder == donation.facility:
                continue  # the station that found the reactive result holds it already
            recalled.setdefault(item.holder, []).append(item)
    recall_of: dict[tuple[str, str], str] = {}
    notices: list[tuple[bytes, bytes]] = []
    notice_rows: list[tuple[Any, ...]] = []
    sent_at = from_ms(now)
    for facility, items in sorted(recalled.items()):
        recall_id = recall_id_for(lookback_id, facility)
        event_id = uuid.uuid5(_NOTICE_NAMESPACE, recall_id)
        dins = sorted({i.din for i in items})
        notices.append(
            (
                facility.encode(),
                orjson.dumps(
                    {
                        "event_id": str(event_id),
                        "type": "recall.opened",
                        "schema_version": 1,
                        "occurred_at": iso(now),
                        "recorded_at": iso(now),
                        "facility_id": request.facility_id or facility,
                        "payload": {
                            "recall_id": recall_id,
                            "dins": [parse_din(d).full for d in dins],
                            "reason": reason[:500],
                            "lookback_id": lookback_id,
                            "addressed_to": facility,
                        },
                    }
                ),
            )
        )
        for item in items:
            recall_of[(item.din, item.product_code)] = recall_id
            notice_rows.append(
                (
                    recall_id,
                    lookback_id,
                    facility,
                    item.din,
                    item.product_code,
                    reason[:500],
                    sent_at,
                    event_id,
                    partition,
                    offset,
                )
            )
    unit_rows: list[tuple[Any, ...]] = []
    for donation in scope.donations:
        for item in donation.items:
            unit_rows.append(
                (
                    lookback_id,
                    donation.din,
                    item.product_code,
                    item.component_type,
                    donation.role,
                    from_ms(donation.collected_at),
                    item.status,
                    item.holder,
                    item.recipient,
                    recall_of.get((item.din, item.product_code), ""),
                    partition,
                    offset,
                )
            )
    earlier = [d for d in scope.donations if d.role == "earlier"]
    lookback_row = (
        lookback_id,
        request.donor_id,
        request.index_din,
        request.markers,
        request.confirmed_by,
        from_ms(request.detected_at),
        sent_at,
        scope.window_rule,
        from_ms(scope.window_start) if scope.window_start else None,
        request.facility_id,
        len(earlier),
        sum(len(d.items) for d in earlier),
        len(scope.recipients),
        len(recall_of),
        partition,
        offset,
    )
    alert = Alert(
        rule="lookback.opened",
        severity="critical",
        subject=request.index_din,
        message_en=(
            f"Lookback {lookback_id} opened: donor {request.donor_id} confirmed reactive for "
            f"{markers} ({request.confirmed_by}). {len(earlier)} earlier donation(s), "
            f"{len(scope.recipients)} recipient(s), {len(recall_of)} component(s) recalled."
        ),
        message_zh=(
            f"已启动回溯 {lookback_id}：献血者 {request.donor_id} 的 {markers} 确认阳性"
            f"（{request.confirmed_by}）。涉及既往献血 {len(earlier)} 次、受血者 "
            f"{len(scope.recipients)} 人，召回成分 {len(recall_of)} 袋。"
        ),
        occurred_at=from_ms(request.detected_at),
        din=request.index_din,
        facility_id=request.facility_id,
        donor_id=request.donor_id,
        evidence={
            "lookback_id": lookback_id,
            "markers": request.markers,
            "confirmed_by": request.confirmed_by,
            "window_rule": scope.window_rule,
            "window_start": iso(scope.window_start),
            "earlier_donations": [d.din for d in earlier],
            "recipients": scope.recipients,
            "recalls": sorted({r for r in recall_of.values()}),
        },
        dedup_key=lookback_id,
    )
    hospital_notices, hospital_rows = plan_notices(
        lookback_id,
        reason,
        [i for d in scope.donations for i in d.items],
        settings,
        now=now,
        partition=partition,
        offset=offset,
    )
    return Opened(
        lookback_id,
        scope,
        notices,
        # The header last: a lookback that can be listed is complete.
        {
            "lookback_units": (UNIT_COLUMNS, unit_rows),
            "recall_notices": (NOTICE_COLUMNS, notice_rows),
            "lookback_notices": (HOSPITAL_NOTICE_COLUMNS, hospital_rows),
            "lookbacks": (LOOKBACK_COLUMNS, [lookback_row]),
        },
        alert,
        hospital_notices,
    )


def write_lookback(sink: WarehouseSink, opened: Opened) -> int:
    """Store an opened lookback; rows already written from the same source offset are skipped."""
    return sink.write_tables(opened.tables)


# ---- reading --------------------------------------------------------------------------------
def _status_now(
    client: WarehouseClient, pairs: set[tuple[str, str]], policy: Policy, now: int
) -> dict[tuple[str, str], dict[str, Any]]:
    """Current status, holder and recipient of each (DIN, product code), folded from events."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    dins = sorted({din for din, _ in pairs})
    for din, facts in unit_facts(client, dins).items():
        state, _ = fold(facts, policy)
        if state is None:
            continue
        for code, item in state.items.items():
            if (din, code) in pairs:
                out[(din, code)] = {
                    "status": item.status_now(now),
                    "status_at": iso(item.status_at),
                    "holder_facility": item.holder,
                    "recipient_id": item.recipient,
                }
    return out


def _tracking(status: str) -> str:
    if status in RESOLVED:
        return "resolved"
    if status == Status.transfused:
        return "transfused: notify recipient"
    return "open"


def _header(row: Sequence[Any]) -> dict[str, Any]:
    (
        lookback_id,
        donor_id,
        index_din,
        markers,
        confirmed_by,
        detected_at,
        opened_at,
        window_rule,
        window_start,
        facility_id,
        donations,
        components,
        recipients,
        recalls,
    ) = row
    return {
        "lookback_id": lookback_id,
        "donor_id": donor_id,
        "index_din": index_din,
        "markers": list(markers),
        "confirmed_by": confirmed_by,
        "detected_at": iso(to_ms(_dt(detected_at))),
        "opened_at": iso(to_ms(_dt(opened_at))),
        "window_rule": window_rule,
        "window_start": iso(to_ms(_dt(window_start))) if window_start else None,
        "facility_id": facility_id,
        "earlier_donations": int(donations),
        "components": int(components),
        "recipients": int(recipients),
        "recalls": int(recalls),
    }


_HEADER_SQL = (
    "select lookback_id, donor_id, index_din, markers, confirmed_by, detected_at, opened_at, "
    "window_rule, window_start, facility_id, donations, components, recipients, recalls "
    "from lookbacks"
)


def show_lookback(
    client: WarehouseClient, lookback_id: str, settings: Settings, now: int | None = None
) -> dict[str, Any]:
    """A lookback as opened, with where each recalled component is now."""
    now = now or to_ms(datetime.now(UTC))
    rows = client.query(
        f"{_HEADER_SQL} where lookback_id = {{id:String}} limit 1",
        parameters={"id": lookback_id.strip()},
    ).result_rows
    if not rows:
        raise NotFound(
            f"No lookback {lookback_id}.", hint="`bloodtrace lookback list` shows them all."
        )
    header = _header(rows[0])
    units = client.query(
        "select din, product_code, component_type, role, collected_at, status_at_open, "
        "holder_facility, recipient_id, recall_id from lookback_units "
        "where lookback_id = {id:String} "
        "order by collected_at, din, product_code limit 1 by din, product_code",
        parameters={"id": header["lookback_id"]},
    ).result_rows
    current = _status_now(
        client, {(r[0], r[1]) for r in units}, Policy.from_settings(settings), now
    )
    components = []
    for din, code, kind, role, collected, status_then, holder, recipient, recall_id in units:
        live = current.get((din, code), {})
        status = live.get("status", status_then)
        components.append(
            {
                "din": din,
                "product_code": code,
                "component_type": kind,
                "role": role,
                "collected_at": iso(to_ms(_dt(collected))),
                "status_at_open": status_then,
                "holder_at_open": holder,
                "recipient_id": live.get("recipient_id") or recipient,
                "status": status,
                "holder_facility": live.get("holder_facility", holder),
                "recall_id": recall_id,
                "recall": _tracking(str(status)) if recall_id else "",
            }
        )
    recalled = [c for c in components if c["recall_id"]]
    still_open = [c for c in recalled if c["recall"] == "open"]
    recipients = sorted(
        {c["recipient_id"] for c in components if c["recipient_id"] and c["role"] == "earlier"}
    )
    return {
        **header,
        "status": "open" if still_open else "closed",
        "open_recalls": len(still_open),
        "recipients_to_notify": recipients,
        "hospital_notices": notice_status(client, [header["lookback_id"]], from_ms(now)),
        "components_in_scope": components,
    }


def list_lookbacks(
    client: WarehouseClient,
    settings: Settings,
    *,
    status: str | None = None,
    limit: int = 100,
    now: int | None = None,
) -> list[dict[str, Any]]:
    """The latest lookbacks, each with how many recalled components are still out there."""
    now = now or to_ms(datetime.now(UTC))
    rows = client.query(
        f"{_HEADER_SQL} order by opened_at desc limit 1 by lookback_id limit {{n:UInt32}}",
        parameters={"n": max(1, min(limit, 10_000))},
    ).result_rows
    headers = [_header(row) for row in rows]
    if not headers:
        return []
    recalled = client.query(
        "select distinct lookback_id, din, product_code from lookback_units "
        "where lookback_id in {ids:Array(String)} and recall_id != ''",
        parameters={"ids": [h["lookback_id"] for h in headers]},
    ).result_rows
    current = _status_now(
        client, {(r[1], r[2]) for r in recalled}, Policy.from_settings(settings), now
    )
    open_count: dict[str, int] = {}
    for lookback_id, din, code in recalled:
        live = current.get((din, code), {})
        if _tracking(str(live.get("status", ""))) == "open":
            open_count[lookback_id] = open_count.get(lookback_id, 0) + 1
    out = []
    for h in headers:
        n_open = open_count.get(h["lookback_id"], 0)
        h.update(status="open" if n_open else "closed", open_recalls=n_open)
        if status is None or h["status"] == status:
            out.append(h)
    return out
