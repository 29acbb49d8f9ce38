"""Cold chain: temperature readings against each component type's storage rule, in real time.

One agent reads validated events (``events.valid``) and the equipment movements it derives
(``coldchain.contents``), a batch at a time:

- unit events (produced, stored, shipped, issued, transfused, discarded), keyed by
  DIN, update where each unit is (Faust table ``coldchain-units``, keyed by DIN) and become
  movements into or out of equipment, produced to ``coldchain.contents`` keyed by equipment, so
  they land in the same partition as that equipment's readings;
- movements update what each equipment holds (table ``coldchain-contents``), and readings run
  the excursion rules (table ``coldchain-monitors``), both keyed by equipment; after each
  batch's movements, flags are reconciled with the confirmed excursions, because movements
  (from other partitions) can arrive after the readings: a stay learnt late is flagged, and a
  flag a late departure disproves is withdrawn;
- returned units are checked against the time allowed out of refrigeration;
- sensors silent for longer than their interval allows raise a telemetry-gap alert, checked
  after every batch and on a timer, against the event-time clock of the sensor's partition.

The rules themselves are pure functions in models/coldchain.py; this module only batches,
keeps state and persists. Each batch's effects (excursion and flag rows, alerts, movements) are
written before the tables are updated, and the rules ignore a reading or movement already
applied, so a batch replayed after a crash changes nothing twice; rows and alert ids are
deterministic.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

import faust
import orjson
from faust.streams import _current_event
from prometheus_client import CollectorRegistry, Counter

from infra.warehouse import thread_client
from models.alerts import Alert
from models.coldchain import (
    UNIT_TYPES,
    Contents,
    Effects,
    Excursion,
    Monitor,
    Movement,
    Reading,
    UnitFlag,
    UnitPlaces,
    apply_movement,
    apply_reading,
    apply_unit_event,
    forget,
    reconcile,
    return_flag,
    silent_since,
)
from models.isbt128 import parse_din, parse_product_code
from streams.app import Stage
from streams.processors import coldchain_store

if TYPE_CHECKING:
    from streams.app import PlatformContext

log = logging.getLogger("bloodtrace.coldchain")
P = TypeVar("P")

TEMPERATURE = "storage.temperature_recorded"
RETURNED = "unit.returned"
CONTENTS_TOPIC = "coldchain.contents"


def event_time(value: Any) -> datetime:
    """An occurred_at as sent (ISO 8601, already validated) -> aware UTC datetime."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)  # 'Z' parses as UTC


@lru_cache(maxsize=1 << 16)
def din_code(text: str) -> str:
    return parse_din(text).code


@lru_cache(maxsize=1 << 12)
def product_code(text: str | None) -> str:
    return parse_product_code(text).code if text else ""


def set_from(table: Any, key: str, value: Any, event: Any) -> None:
    """Write a table key as if processing ``event``.

    Faust sends a table change to the changelog partition of the event being processed; a
    batch (take_events) has no current event, so name the one that caused the change: its
    partition is the key's partition (events.valid and coldchain.contents are both keyed by
    the table's key and produced with the same partitioner).
    """
    token = _current_event.set(weakref.ref(event))
    try:
        table[key] = value
    finally:
        _current_event.reset(token)


# ---- alerts, in words a person can act on --------------------------------------------------
def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:.0f}"


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def excursion_alert(excursion: Excursion, units: int) -> Alert:
    e = excursion
    where = f"{e.equipment_id} ({e.equipment_kind}) at {e.facility_id}"
    condition = e.condition.describe()
    return Alert(
        rule="coldchain.excursion_confirmed",
        severity="critical",
        subject=e.equipment_id,
        message_en=(
            f"Cold-chain excursion confirmed in {where}: outside {condition} for "
            f"{_minutes(e.duration)} min since {_at(e.started_at)} (peak {e.peak_c:g} °C, "
            f"{', '.join(e.breaches)}); {units} unit(s) to quarantine."
        ),
        message_zh=(
            f"{e.facility_id} {e.equipment_id} 冷链失控：自 {_at(e.started_at)} 起超出 "
            f"{condition} 达 {_minutes(e.duration)} 分钟（峰值 {e.peak_c:g} °C），"
            f"{units} 个血液单位建议隔离。"
        ),
        occurred_at=e.started_at,
        facility_id=e.facility_id,
        equipment_id=e.equipment_id,
        evidence={k: v for k, v in e.to_dict().items() if k != "flagged"},
        dedup_key=e.excursion_id,
    )


def unit_alert(flag: UnitFlag, excursion: Excursion | None) -> Alert:
    product = f" {flag.product_code}" if flag.product_code else ""
    if flag.reason == "returned_out_of_refrigeration":
        minutes = float(flag.detail["minutes_out"])
        limit = float(flag.detail["limit_minutes"])
        return Alert(
            rule="coldchain.returned_out_of_refrigeration",
            severity="critical",
            subject=flag.din,
            message_en=(
                f"Unit {flag.din}{product} returned to {flag.facility_id} after {minutes:.0f} "
                f"min out of refrigeration (limit {limit:.0f} min): discard recommended."
            ),
            message_zh=(
                f"血液 {flag.din}{product} 离开冷藏 {minutes:.0f} 分钟后退回 {flag.facility_id}"
                f"（上限 {limit:.0f} 分钟）：建议报废。"
            ),
            occurred_at=flag.flagged_at,
            din=flag.din,
            product_code=flag.product_code,
            facility_id=flag.facility_id,
            evidence=dict(flag.detail),
            dedup_key=flag.excursion_id,
        )
    condition = excursion.condition.describe() if excursion else flag.detail.get("range", "")
    lasted = _minutes(excursion.duration) if excursion else "?"
    return Alert(
        rule="coldchain.excursion_unit_quarantine",
        severity="critical",
        subject=flag.din,
        message_en=(
            f"Unit {flag.din}{product} was in {flag.equipment_id} at {flag.facility_id} during a "
            f"confirmed cold-chain excursion (outside {condition} for {lasted} min, peak "
            f"{flag.detail.get('peak_c')} °C): quarantine recommended."
        ),
        message_zh=(
            f"血液 {flag.din}{product} 存放于 {flag.facility_id} {flag.equipment_id} 期间发生冷链"
            f"失控（超出 {condition} 达 {lasted} 分钟，峰值 {flag.detail.get('peak_c')} °C）："
            "建议隔离。"
        ),
        occurred_at=flag.exposed_from,
        **_excursion_unit_fields(flag),
    )


def _excursion_unit_fields(flag: UnitFlag) -> dict[str, Any]:
    """What an alert about a unit in an excursion says besides its wording (one alert per
    excursion and product)."""
    return {
        "din": flag.din,
        "product_code": flag.product_code,
        "facility_id": flag.facility_id,
        "equipment_id": flag.equipment_id,
        "evidence": {"excursion_id": flag.excursion_id, **flag.detail},
        "dedup_key": f"{flag.excursion_id}|{flag.product_code}",
    }


def withdrawal_alert(flag: UnitFlag) -> Alert:
    product = f" {flag.product_code}" if flag.product_code else ""
    left = flag.detail.get("left_at", "")
    return Alert(
        rule="coldchain.quarantine_withdrawn",
        severity="info",
        subject=flag.din,
        message_en=(
            f"Unit {flag.din}{product} left {flag.equipment_id} ({left}) before the excursion "
            "there began: the quarantine recommendation is withdrawn."
        ),
        message_zh=(
            f"血液 {flag.din}{product} 已于 {left} 移出 {flag.equipment_id}，早于该次冷链失控："
            "撤销隔离建议。"
        ),
        occurred_at=flag.flagged_at,
        **_excursion_unit_fields(flag),
    )


def gap_alert(monitor: Monitor, reference: datetime) -> Alert:
    assert monitor.last_reading_at is not None
    silent = reference - monitor.last_reading_at
    every = monitor.interval_seconds / 60
    return Alert(
        rule="coldchain.telemetry_gap",
        severity="warning",
        subject=monitor.equipment_id,
        message_en=(
            f"No temperature reading from {monitor.equipment_id} ({monitor.equipment_kind}) at "
            f"{monitor.facility_id} since {_at(monitor.last_reading_at)}: silent "
            f"{_minutes(silent)} min, expected every {every:g} min."
        ),
        message_zh=(
            f"{monitor.facility_id} {monitor.equipment_id} 自 {_at(monitor.last_reading_at)} "
            f"起无温度数据：已 {_minutes(silent)} 分钟，应每 {every:g} 分钟上报。"
        ),
        occurred_at=monitor.last_reading_at,
        facility_id=monitor.facility_id,
        equipment_id=monitor.equipment_id,
        evidence={
            "last_reading_at": monitor.last_reading_at.isoformat(),
            "interval_seconds": monitor.interval_seconds,
            "silent_minutes": round(silent.total_seconds() / 60, 1),
        },
        dedup_key=monitor.last_reading_at.isoformat(),
    )


# ---- the processor -------------------------------------------------------------------------
@dataclass
class Prepared:
    """One batch after the rules: what to write, then the table updates that follow."""

    work: BatchWork
    table_writes: list[tuple[Any, dict[str, tuple[dict[str, Any], Any]]]]
    monitors_written: list[str]


@dataclass
class Sensor:
    """What the silence check needs about one piece of equipment."""

    monitor: Monitor  # telemetry fields only
    partition: int
    holding: bool  # units inside at its last reading


class ColdChainMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.readings = Counter(
            "bloodtrace_coldchain_readings", "Temperature readings checked", registry=registry
        )
        self.confirmed = Counter(
            "bloodtrace_coldchain_excursions_confirmed",
            "Excursions past the tolerance",
            registry=registry,
        )
        self.flagged = Counter(
            "bloodtrace_coldchain_units_flagged",
            "Units flagged, by reason",
            ["reason"],
            registry=registry,
        )
        self.gaps = Counter(
            "bloodtrace_coldchain_telemetry_gaps", "Silent sensors found", registry=registry
        )
        self.withdrawn = Counter(
            "bloodtrace_coldchain_flags_withdrawn",
            "Flags withdrawn: the unit's departure, learnt late, preceded the excursion",
            registry=registry,
        )


@dataclass
class BatchWork:
    """What one batch produces, to persist in the warehouse thread."""

    effects: Effects = field(default_factory=Effects)
    alerts: list[Alert] = field(default_factory=list)
    movements: list[Movement] = field(default_factory=list)
    return_flags: list[UnitFlag] = field(default_factory=list)


class ColdChain:
    def __init__(self, ctx: PlatformContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.storage = ctx.settings.storage
        self.rules = ctx.settings.coldchain
        self.valid_topic = ctx.settings.topic("events.valid")
        self.contents_topic = ctx.settings.topic(CONTENTS_TOPIC)
        app = ctx.app
        options: dict[str, Any] = {"partitions": ctx.settings.topic_partitions}
        self.units = app.Table("coldchain-units", help="DIN -> components and places", **options)
        self.monitors = app.Table("coldchain-monitors", help="equipment -> excursions", **options)
        self.contents = app.Table("coldchain-contents", help="equipment -> units", **options)
        # Per partition: (latest reading time seen, monotonic time it was seen).
        self.clocks: dict[int, tuple[datetime, float]] = {}
        self.last_seen: dict[str, Sensor] = {}  # equipment -> its telemetry, for silence
        self.gap_alerted: dict[str, datetime] = {}  # equipment -> last reading alerted on
        self.indexed = False
        self.monitor_cache: dict[str, Monitor] = {}
        self.contents_cache: dict[str, Contents] = {}
        self.flushed: dict[str, float] = {}  # equipment -> when its monitor was last written
        self.metrics = ColdChainMetrics(ctx.metrics.registry)
        app.on_partitions_revoked.connect(self._forget_index)
        app.on_partitions_assigned.connect(self._forget_index)

    def _forget_index(self, *_: Any, **__: Any) -> None:
        """After a rebalance (or a failed batch) the tables are the truth again."""
        self.indexed = False
        self.last_seen.clear()
        self.monitor_cache.clear()
        self.contents_cache.clear()
        self.flushed.clear()

    # -- one batch: prepared on the event loop, written in the warehouse thread ---------------
    def prepare(self, events: list[Any], records: list[Any] | None = None) -> Prepared:
        """Run the rules over a batch (state in memory); what to persist and the table
        writes that follow it. ``records``: the events already decoded, if they are."""
        work = BatchWork()
        readings: dict[str, list[tuple[Reading, Any]]] = defaultdict(list)
        movements: dict[str, list[tuple[Movement, Any]]] = defaultdict(list)
        unit_events: list[tuple[dict[str, Any], Any]] = []
        for i, event in enumerate(events):
            try:
                record = records[i] if records is not None else None
                if record is None:
                    record = orjson.loads(event.value)
                self._classify(event, record, readings, movements, unit_events)
            except (KeyError, TypeError, ValueError, orjson.JSONDecodeError) as exc:
                # Validated upstream, so this is a bug or a foreign record: skip, loudly.
                log.error("cold chain skipped an unreadable record: %s", exc)
        unit_writes = self._apply_unit_events(unit_events, work)
        monitor_writes, contents_writes = self._apply_equipment(readings, movements, work)
        gaps = self._gap_alerts()
        self.metrics.gaps.inc(len(gaps))
        work.alerts.extend(gaps)
        return Prepared(
            work,
            [
                (self.units, unit_writes),
                (self.monitors, monitor_writes),
                (self.contents, contents_writes),
            ],
            list(monitor_writes),
        )

    def write(self, prepared: Prepared) -> None:
        """In the warehouse thread: rows, alerts and movements of one batch."""
        work, effects = prepared.work, prepared.work.effects
        if (
            effects.excursions
            or effects.flags
            or effects.withdrawn
            or work.alerts
            or work.movements
        ):
            self._persist(work)

    def complete(self, prepared: Prepared) -> None:
        """Once the batch is written: the tables (a crash before this point replays the
        batch against the old state)."""
        for table, writes in prepared.table_writes:
            for key, (value, event) in writes.items():
                set_from(table, key, value, event)
        now = time.monotonic()
        for equipment in prepared.monitors_written:
            self.flushed[equipment] = now

    def reset(self) -> None:
        """A batch failed: the cached states hold it, so the tables are the truth again."""
        self._forget_index()

    def _classify(
        self,
        event: Any,
        record: Any,
        readings: dict[str, list[tuple[Reading, Any]]],
        movements: dict[str, list[tuple[Movement, Any]]],
        unit_events: list[tuple[dict[str, Any], Any]],
    ) -> None:
        if event.message.topic == self.contents_topic:
            movement = Movement.from_dict(record)
            movements[movement.equipment_id].append((movement, event))
            return
        kind = record.get("type")
        if kind == TEMPERATURE:
            p = record["payload"]
            reading = Reading(
                equipment_id=p["equipment_id"],
                equipment_kind=p["equipment_kind"],
                facility_id=record["facility_id"],
                at=event_time(record["occurred_at"]),
                temperature_c=float(p["temperature_c"]),
                agitating=p.get("agitating"),
                interval_seconds=int(
                    p.get("interval_seconds") or self.rules.default_reading_interval_seconds
                ),
            )
            readings[reading.equipment_id].append((reading, event))
        elif kind in UNIT_TYPES or kind == RETURNED:
            unit_events.append((record, event))

    def _apply_unit_events(
        self, unit_events: list[tuple[dict[str, Any], Any]], work: BatchWork
    ) -> dict[str, tuple[dict[str, Any], Any]]:
        units: dict[str, UnitPlaces] = {}
        before: dict[str, dict[str, Any]] = {}
        writes: dict[str, tuple[dict[str, Any], Any]] = {}
        for record, event in unit_events:
            p = record["payload"]
            din = din_code(p["din"])
            product = product_code(p.get("product_code"))
            at = event_time(record["occurred_at"])
            if record["type"] == RETURNED:
                flag = return_flag(
                    din,
                    product,
                    float(p["minutes_out_of_refrigeration"]),
                    record["facility_id"],
                    at,
                    str(record["event_id"]),
                    self.rules,
                )
                if flag is not None:
                    work.return_flags.append(flag)
                    work.alerts.append(unit_alert(flag, None))
                continue
            unit = units.get(din)
            if unit is None:
                known = self.units.get(din)
                unit = units[din] = UnitPlaces.from_dict(din, known)
                before[din] = known or UnitPlaces(din).to_dict()
            moves = apply_unit_event(
                unit,
                record["type"],
                at,
                record["facility_id"],
                product,
                equipment_id=p.get("equipment_id", ""),
                component_type=p.get("component_type", ""),
            )
            work.movements.extend(moves)
            state = unit.to_dict()
            if state != before[din]:  # most events about units move nothing: no changelog
                writes[din] = (state, event)
        return writes

    def _apply_equipment(
        self,
        readings: dict[str, list[tuple[Reading, Any]]],
        movements: dict[str, list[tuple[Movement, Any]]],
        work: BatchWork,
    ) -> tuple[dict[str, tuple[dict[str, Any], Any]], dict[str, tuple[dict[str, Any], Any]]]:
        monitor_writes: dict[str, tuple[Monitor, Any]] = {}
        contents_writes: dict[str, tuple[Contents, Any]] = {}
        holding: dict[str, bool] = {}
        effects = work.effects
        now = time.monotonic()
        for equipment in readings.keys() | movements.keys():
            monitor, contents = self._state(equipment)
            changes_before = len(effects.excursions)
            moved = movements.get(equipment, [])
            for movement, event in moved:
                if apply_movement(monitor, contents, movement):
                    contents_writes[equipment] = (contents, event)
            if equipment in contents_writes:
                step = reconcile(monitor, contents, self.storage, self.rules)
                if step.excursions:  # flags added or withdrawn: the excursions changed
                    monitor_writes[equipment] = (monitor, moved[-1][1])
                effects.merge(step)
            seen = sorted(readings.get(equipment, []), key=lambda item: item[0].at)
            for reading, _ in seen:
                effects.merge(apply_reading(monitor, contents, reading, self.storage, self.rules))
            # The changelog gets a monitor at once when its excursions changed; otherwise (only
            # the latest reading time moved) at most every monitor_flush_seconds.
            excursions_changed = len(effects.excursions) > changes_before
            stale = now - self.flushed.get(equipment, 0.0) >= self.rules.monitor_flush_seconds
            if seen and (excursions_changed or stale):
                monitor_writes[equipment] = (monitor, seen[-1][1])
            if monitor.last_reading_at is not None:
                forget(monitor, contents, monitor.last_reading_at, self.rules)
                holding[equipment] = bool(contents.present_at(monitor.last_reading_at))
            self.metrics.readings.inc(len(seen))
            if seen:
                self._saw(monitor, seen[-1][1].message.partition, holding[equipment])
        return (
            {
                k: ({**m.to_dict(), **self._where(e, holding.get(k, False))}, e)
                for k, (m, e) in monitor_writes.items()
            },
            {k: (c.to_dict(), e) for k, (c, e) in contents_writes.items()},
        )

    def _state(self, equipment: str) -> tuple[Monitor, Contents]:
        """The equipment's monitor and contents: kept in memory between batches (the tables
        are read after a start or a rebalance only)."""
        monitor = self.monitor_cache.get(equipment)
        if monitor is None:
            monitor = Monitor.from_dict(equipment, self.monitors.get(equipment))
            self.monitor_cache[equipment] = monitor
        contents = self.contents_cache.get(equipment)
        if contents is None:
            contents = Contents.from_dict(self.contents.get(equipment))
            self.contents_cache[equipment] = contents
        return monitor, contents

    @staticmethod
    def _where(event: Any, holding: bool) -> dict[str, Any]:
        """Kept with a monitor so the silence index can be rebuilt after a restart."""
        return {"partition": event.message.partition, "holding": holding}

    # -- silent sensors ---------------------------------------------------------------------
    def _saw(self, monitor: Monitor, partition: int, holding: bool) -> None:
        """Remember a sensor's last reading, and move its partition's clock on.

        Silence is judged per partition, against the latest reading time seen in it: events
        of one partition arrive in order, but partitions are consumed unevenly (a backlog of
        days in one while another is current), so one clock for all would find sensors
        silent that are merely waiting their turn.
        """
        self.last_seen[monitor.equipment_id] = Sensor(
            Monitor(
                monitor.equipment_id,
                monitor.equipment_kind,
                monitor.facility_id,
                monitor.last_reading_at,
                monitor.interval_seconds,
            ),
            partition,
            holding,
        )
        latest = monitor.last_reading_at
        clock = self.clocks.get(partition)
        if latest is not None and (clock is None or latest > clock[0]):
            self.clocks[partition] = (latest, time.monotonic())

    def _reference_time(self, partition: int) -> datetime | None:
        """The partition's event-time clock, moved on by the wall-clock time since it last
        advanced (so a sensor is found silent even when every sensor has stopped)."""
        clock = self.clocks.get(partition)
        if clock is None:
            return None
        return clock[0] + timedelta(seconds=time.monotonic() - clock[1])

    def _index(self) -> None:
        """After a start or a rebalance: learn the sensors of this worker's partitions."""
        for key, value in list(self.monitors.items()):
            monitor = Monitor.from_dict(key, value)
            if monitor.last_reading_at is not None and key not in self.last_seen:
                self._saw(monitor, int(value.get("partition", 0)), bool(value.get("holding")))
        self.indexed = True

    def _gap_alerts(self) -> list[Alert]:
        alerts = []
        quiet_when_empty = set(self.rules.silent_only_when_holding)
        for equipment, sensor in self.last_seen.items():
            monitor = sensor.monitor
            if monitor.equipment_kind in quiet_when_empty and not sensor.holding:
                continue  # e.g. a transport box put away: it reports only while in use
            reference = self._reference_time(sensor.partition)
            if reference is None or not silent_since(monitor, reference, self.rules):
                continue
            if self.gap_alerted.get(equipment) == monitor.last_reading_at:
                continue  # one alert per silence
            assert monitor.last_reading_at is not None
            self.gap_alerted[equipment] = monitor.last_reading_at
            alerts.append(gap_alert(monitor, reference))
        return alerts

    async def check_silence(self) -> None:
        if not self.indexed:
            self._index()
        alerts = self._gap_alerts()
        if alerts:
            await self.ctx.in_warehouse(self.ctx.raise_alerts, alerts)
            self.metrics.gaps.inc(len(alerts))

    # -- the warehouse thread -----------------------------------------------------------------
    def _persist(self, work: BatchWork) -> None:
        if work.movements:
            self.ctx.forward(
                self.contents_topic,
                [(m.equipment_id.encode(), orjson.dumps(m.to_dict())) for m in work.movements],
            )
        effects = work.effects
        flags = [*effects.flags, *work.return_flags]
        excursions = list(effects.excursions.values())
        coldchain_store.write(
            thread_client(self.settings), excursions, flags, withdrawn=effects.withdrawn
        )
        flagged_now: dict[str, int] = defaultdict(int)
        for flag in effects.flags:
            flagged_now[flag.excursion_id] += 1
        alerts = [excursion_alert(e, flagged_now[e.excursion_id]) for e in effects.confirmed]
        alerts += [unit_alert(f, effects.excursions.get(f.excursion_id)) for f in effects.flags]
        alerts += [withdrawal_alert(f) for f in effects.withdrawn]
        self.ctx.raise_alerts([*alerts, *work.alerts])
        self.metrics.withdrawn.inc(len(effects.withdrawn))
        self.metrics.confirmed.inc(len(effects.confirmed))
        self.metrics.flagged.labels("excursion").inc(len(effects.flags))
        self.metrics.flagged.labels("returned_out_of_refrigeration").inc(len(work.return_flags))


def stage(ctx: PlatformContext) -> Stage[Prepared]:
    """The cold chain's tables and timer; returns its stage (run on each batch of
    events.valid and coldchain.contents by the platform's processors agent)."""
    processor = _processor(ctx)
    return Stage(
        "coldchain",
        processor.prepare,
        processor.write,
        processor.complete,
        processor.reset,
        topics=(processor.contents_topic,),
    )


def _processor(ctx: PlatformContext) -> ColdChain:
    processor = ColdChain(ctx)

    @ctx.app.timer(interval=ctx.settings.coldchain.silence_check_seconds)
    async def silent_sensors() -> None:
        await processor.check_silence()

    return processor


def register(ctx: PlatformContext) -> ColdChain:
    """Add the cold-chain processor with an agent of its own; returns the processor (for
    benches)."""
    settings, app = ctx.settings, ctx.app
    processor = _processor(ctx)
    # Declared internal so Faust creates coldchain.contents (events.valid already exists).
    source = app.topic(
        processor.valid_topic,
        processor.contents_topic,
        value_type=bytes,
        key_type=bytes,
        internal=True,
        partitions=settings.topic_partitions,
    )

    @app.agent(source, name="coldchain")
    async def coldchain(stream: faust.StreamT[bytes]) -> None:
        await ctx.run_batches(
            stream, processor.prepare, processor.write, processor.complete, processor.reset
        )

    return processor
