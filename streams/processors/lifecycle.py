"""Lifecycle processor: every unit's and component's state, every donor's donation history,
the safety rules, and lookbacks opened by confirmed reactive donations.

Two parts, each working per batch:

- the units stage (run on each batch of ``events.valid``, keyed by DIN, by the platform's one
  ``processors`` agent, or by an agent ``lifecycle-units`` of its own via ``register``) folds
  each unit event into the unit's state (models.lifecycle) kept in the Faust table
  ``lifecycle-units`` (changelog backed, co-partitioned with the topic). It raises the unit
  alerts and tells the donor side about each donation and its screening outcome on
  ``lifecycle.donors``, keyed by donor.
- ``lifecycle-donors`` reads those notes and keeps each donor's history in the table
  ``lifecycle-donors`` (models.donor_history): donor age and interval rules, and, on a
  confirmed reactive screen, the lookback (streams/lookback.py: scope from the warehouse,
  recall notices on ``recalls``, rows in ``lookbacks``/``lookback_units``/``recall_notices``).

A timer looks for lost units: no final disposition ``lifecycle.lost_unit_after_expiry_days``
after expiry, judged by the stream's clock (the latest event time seen, never ahead of the
wall clock): a replay or a simulation is judged by its own time, and a feed that falls silent
does not turn every unit "lost" (silence is the quality checks' freshness rule). Each raise is
checked against the alerts table first.

Order of effects per batch: alerts, notes and recalls are delivered, then the tables are
updated, then the batch is acknowledged. The units stage is pipelined (the next batch is folded
while this one's effects are delivered): states folded but not yet in the table are read from
an overlay, dropped when the batch completes or fails. A crash replays the batch against the
older state: alerts come again with the same ``alert_id``, notes and lookback rows are deduplicated
downstream (by DIN, by source offset). Each unit remembers its last event ids, so an event
forwarded twice is folded once.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
import orjson
from faust import streams as faust_streams

from infra.warehouse import thread_client
from models.alerts import Alert
from models.donor_history import DonorState, LookbackRequest, apply_note
from models.lifecycle import (
    FINAL,
    Policy,
    Status,
    UnitState,
    apply,
    fact_from_wire,
    lost_items,
    lost_unit_alert,
    to_ms,
)
from streams.app import PlatformContext, Stage
from streams.lookback import plan_lookback, write_lookback
from streams.sinks.warehouse import WarehouseSink

log = logging.getLogger("bloodtrace.lifecycle")
SCAN_CHUNK = 2000  # units examined between yields to the event loop


@contextmanager
def as_current(event: Any) -> Iterator[None]:
    """Make ``event`` Faust's current event, so a table write goes to its partition.

    A batch (``take_events``) has no current event of its own; a table write needs one to
    pick the changelog partition, and the right one is the partition of the event that
    changed that key (keeps the table co-partitioned with its topic).
    """
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)


@dataclass
class UnitBatch:
    """One batch folded: the states it changed (with the event that changed each last), and
    the alerts and donor notes to deliver before the states are kept."""

    touched: dict[bytes, tuple[UnitState, Any]]
    alerts: list[Alert]
    notes: list[Any]


def deadline(state: UnitState) -> int:
    """Earliest expiry among the items still waiting for a final disposition (0: none)."""
    times = [
        item.expires_at
        for item in state.items.values()
        if item.expires_at and item.status not in FINAL and item.status != Status.processed
    ]
    return min(times, default=0)


def latest_time(state: UnitState) -> int:
    """The latest event time a unit's state records."""
    return max(
        [state.collected_at, state.released_at, *(i.status_at for i in state.items.values())],
        default=0,
    )


def stage(ctx: PlatformContext) -> Stage[Any]:
    """The lifecycle's tables, timers and donor agent; returns the unit stage, which the
    platform runs on each batch of ``events.valid`` with the other processors
    (streams.app.register_stages)."""
    settings, app = ctx.settings, ctx.app
    policy = Policy.from_settings(settings)
    partitions = settings.topic_partitions
    valid_name = settings.topic("events.valid")
    valid_topic = app.topic(valid_name, value_type=bytes, key_type=bytes)
    donors_name = settings.topic("lifecycle.donors")
    donors_topic = app.topic(
        donors_name, value_type=bytes, key_type=bytes, internal=True, partitions=partitions
    )
    recalls_name = settings.topic("recalls")
    notices_name = settings.topic("notices")
    units = app.Table(
        "lifecycle-units",
        partitions=partitions,
        key_type=bytes,
        value_type=bytes,
        help="DIN -> unit state (models.lifecycle.UnitState, JSON)",
    )
    donors = app.Table(
        "lifecycle-donors",
        partitions=partitions,
        key_type=bytes,
        value_type=bytes,
        help="donor pseudonym -> donation history (models.donor_history.DonorState, JSON)",
    )
    # Units with an item still waiting for a final disposition: DIN -> earliest expiry.
    watch: dict[bytes, int] = {}
    watch_built = False
    clock = 0  # the latest occurred_at seen (epoch ms)
    lost_raised: set[str] = set()
    sinks: dict[str, WarehouseSink] = {}

    def persist(table: Any, touched: dict[bytes, tuple[Any, Any]]) -> None:
        for key, (state, event) in touched.items():
            with as_current(event):
                table[key] = state.to_bytes()
            if isinstance(state, UnitState):
                due = deadline(state)
                if due:
                    watch[key] = due
                else:
                    watch.pop(key, None)

    # ---- units ----------------------------------------------------------------------------
    def deliver_unit_effects(alerts: list[Alert], notes: list[Any]) -> None:
        if notes:
            ctx.forward(donors_name, [(n.donor_id.encode(), n.to_bytes()) for n in notes])
        ctx.raise_alerts(alerts)

    overlay: dict[bytes, UnitState] = {}  # states folded by batches not yet completed

    def fold(events: list[Any], records: list[Any] | None = None) -> UnitBatch:
        """On the event loop: fold a batch's unit events into the units' states (in memory)."""
        nonlocal clock
        batch = UnitBatch({}, [], [])
        touched = batch.touched
        for i, event in enumerate(events):
            if event.message.topic != valid_name:
                continue
            try:
                record = records[i] if records is not None else None
                fact = fact_from_wire(event.value if record is None else record)
            except Exception as exc:  # validated upstream; never stop the stream on one
                log.error("unreadable event on %s skipped: %s", valid_topic, exc)
                continue
            if fact is None:
                continue
            key = fact.din.encode()
            if key in touched:
                state: UnitState | None = touched[key][0]
            elif key in overlay:  # folded by an earlier batch still being written
                state = overlay[key]
            else:
                raw = units.get(key)
                state = UnitState.from_bytes(fact.din, raw) if raw else None
            state, out = apply(state, fact, policy)
            touched[key] = (state, event)
            batch.alerts.extend(out.alerts)
            batch.notes.extend(out.notes)
            clock = max(clock, fact.at)
        for key, (state, _) in touched.items():
            overlay[key] = state
        return batch

    def deliver(batch: UnitBatch) -> None:
        """In the warehouse thread: alerts and donor notes, before the table changes."""
        if batch.alerts or batch.notes:
            deliver_unit_effects(batch.alerts, batch.notes)

    def complete(batch: UnitBatch) -> None:
        """Once delivered: the table (a crash before this replays the batch on the old state)."""
        persist(units, batch.touched)
        for key, (state, _) in batch.touched.items():
            if overlay.get(key) is state:
                del overlay[key]

    units_stage = Stage("lifecycle", fold, deliver, complete, overlay.clear)

    # ---- donors ---------------------------------------------------------------------------
    def deliver_donor_effects(
        alerts: list[Alert], requests: list[tuple[LookbackRequest, int, int]]
    ) -> None:
        ctx.raise_alerts(alerts)
        if not requests:
            return
        client = thread_client(settings)
        if "lookbacks" not in sinks:
            sinks["lookbacks"] = ctx.sink("lifecycle.donors")
        for request, partition, offset in requests:
            opened = plan_lookback(client, request, settings, partition=partition, offset=offset)
            if opened.empty:
                log.info("no lookback needed for %s: no earlier donation", request.index_din)
                continue
            if opened.notices:
                ctx.forward(recalls_name, opened.notices)
            if opened.hospital_notices:
                ctx.forward(notices_name, opened.hospital_notices)
            write_lookback(sinks["lookbacks"], opened)
            ctx.raise_alerts([opened.alert])
            log.warning(
                "lookback %s opened for donor %s (%d recall notices)",
                opened.lookback_id,
                request.donor_id,
                len(opened.notices),
            )

    async def track_donor_batch(events: list[Any]) -> None:
        touched: dict[bytes, tuple[DonorState, Any]] = {}
        alerts: list[Alert] = []
        requests: list[tuple[LookbackRequest, int, int]] = []
        for event in events:
            try:
                note = orjson.loads(event.value)
                key = str(note["donor_id"]).encode()
            except Exception as exc:
                log.error("unreadable donor note skipped: %s", exc)
                continue
            if key in touched:
                state: DonorState | None = touched[key][0]
            else:
                raw = donors.get(key)
                state = DonorState.from_bytes(key.decode(), raw) if raw else None
            state, new_alerts, request = apply_note(state, note, settings.donor)
            touched[key] = (state, event)
            alerts.extend(new_alerts)
            if request is not None:
                requests.append((request, event.message.partition, event.message.offset))
        if alerts or requests:
            await ctx.in_warehouse(deliver_donor_effects, alerts, requests)
        persist(donors, touched)

    @app.agent(donors_topic, name="lifecycle-donors")
    async def track_donors(stream: faust.StreamT[bytes]) -> None:
        await ctx.run_serially(stream, track_donor_batch)

    # ---- lost units -----------------------------------------------------------------------
    def raise_new(alerts: list[Alert]) -> int:
        client = thread_client(settings)
        ids = [a.alert_id for a in alerts]
        known = {
            row[0]
            for row in client.query(
                "select distinct alert_id from alerts where rule = 'unit.lost' "
                "and alert_id in {ids:Array(String)}",
                parameters={"ids": ids},
            ).result_rows
        }
        fresh = [a for a in alerts if a.alert_id not in known]
        ctx.raise_alerts(fresh)
        lost_raised.update(ids)
        return len(fresh)

    @app.timer(interval=settings.lifecycle.lost_unit_check_seconds)
    async def find_lost_units() -> None:
        nonlocal watch_built, clock
        if not watch_built:
            # After a restart the table came back from its changelog: index it once.
            for i, (key, raw) in enumerate(list(units.items())):
                state = UnitState.from_bytes(key.decode(), raw)
                due = deadline(state)
                if due:
                    watch[key] = due
                clock = max(clock, latest_time(state))
                if i % SCAN_CHUNK == 0:
                    await asyncio.sleep(0)
            watch_built = True
        now = min(clock, to_ms(datetime.now(UTC)))
        grace = settings.lifecycle.lost_unit_after_expiry_days * 86_400_000
        found: list[Alert] = []
        seen: list[bytes] = []
        for key, due in list(watch.items()):
            if now <= due + grace:
                continue
            seen.append(key)
            raw = units.get(key)
            if not raw:
                continue
            state = UnitState.from_bytes(key.decode(), raw)
            for item in lost_items(state, now, policy):
                alert = lost_unit_alert(state, item, now, policy)
                if alert.alert_id not in lost_raised:
                    found.append(alert)
        if found:
            raised = await ctx.in_warehouse(raise_new, found)
            if raised:
                log.warning("%d lost unit(s) raised", raised)
        for key in seen:  # raised once; a later event on the unit puts it back on watch
            watch.pop(key, None)

    return units_stage


def register(ctx: PlatformContext) -> None:
    """The lifecycle processor with an agent of its own on ``events.valid``."""
    unit_stage = stage(ctx)
    source = ctx.app.topic(ctx.settings.topic("events.valid"), value_type=bytes, key_type=bytes)

    @ctx.app.agent(source, name="lifecycle-units")
    async def track_units(stream: faust.StreamT[bytes]) -> None:
        await ctx.run_stages(stream, [unit_stage])
