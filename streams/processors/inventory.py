"""Inventory: live stock and days of supply, derived from the unit events as they arrive.

One agent reads validated events (``events.valid``) a batch at a time. For every donation a
batch touches, the donation's whole history is read back from the warehouse (``events`` is
ordered by DIN, and the platform writes an event there before it forwards it) and folded again
(models/inventory.py), so events arriving out of order, twice, or after a restart give the
same state; the folds are written to ``inventory_units`` and ``inventory_outflows``.

Then the levels are evaluated at the batch's event time: every facility × group × component
and the city. A worse level is written to ``inventory_levels`` at once with one alert (its id
is fixed by the key, the transition and when the previous level began, so a replayed batch
raises the same alert again rather than a new one); a better level is written only once it
has held for ``inventory.recovery_hold_hours``, so a key with a unit or two does not alert at
every unit in and out. Levels are also
evaluated when event time has moved on by ``inventory.evaluate_every_minutes`` (units expire on
the shelf without any event), and a daily row per key keeps the series for the dashboard.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import faust
import orjson
from prometheus_client import Counter

from infra.warehouse import WarehouseClient, thread_client
from models.alerts import Alert, Severity
from models.inventory import (
    CITY,
    COMPONENT_NAMES_ZH,
    INVENTORY_EVENT_TYPES,
    LEVEL_NAMES_ZH,
    LevelReading,
    StockKey,
    Transition,
    fold_unit,
    settle,
)
from streams.processors import inventory_store as store
from streams.processors.coldchain import din_code, event_time

if TYPE_CHECKING:
    from infra.settings import Settings
    from streams.app import PlatformContext

log = logging.getLogger("bloodtrace.inventory")

_TYPES = frozenset(INVENTORY_EVENT_TYPES)
_SEVERITY: dict[str, Severity] = {"tight": "info", "short": "warning", "critical": "critical"}


def level_alert(t: Transition, as_of: datetime, previous_since: datetime | None) -> Alert:
    facility, group, ctype = t.key
    r = t.reading
    days = r.days_of_supply or 0.0
    where = "the city" if facility == CITY else facility
    where_zh = "全市" if facility == CITY else facility
    name_zh = COMPONENT_NAMES_ZH.get(ctype, ctype)
    return Alert(
        rule="inventory.level_worsened",
        severity=_SEVERITY.get(t.level, "warning"),
        subject="|".join(t.key),
        message_en=(
            f"{group} {ctype.replace('_', ' ')} at {where} is {t.level} (was {t.previous}): "
            f"{days:.1f} days of supply, {r.available} units available, "
            f"{r.mean_daily_issue:.2f} a day going out over the last {r.window_days:g} days."
        ),
        message_zh=(
            f"{where_zh} {group} {name_zh}库存{LEVEL_NAMES_ZH[t.level]}"
            f"（此前{LEVEL_NAMES_ZH[t.previous]}）：可供 {days:.1f} 天，库存 {r.available} 单位，"
            f"近 {r.window_days:g} 天日均发出 {r.mean_daily_issue:.2f} 单位。"
        ),
        occurred_at=as_of,
        facility_id="" if facility == CITY else facility,
        evidence={
            "facility_id": facility,
            "abo_rh": group,
            "component_type": ctype,
            "available": r.available,
            "units_out_in_window": r.outflow,
            "window_days": r.window_days,
            "days_of_supply": round(days, 3),
            "previous_level": t.previous,
            "level": t.level,
        },
        dedup_key=f"{t.previous}->{t.level}@{previous_since.isoformat() if previous_since else ''}",
    )


@dataclass(frozen=True)
class Work:
    dins: set[str]
    as_of: datetime
    evaluate: bool


class Inventory:
    def __init__(self, ctx: PlatformContext) -> None:
        self.ctx = ctx
        self.settings: Settings = ctx.settings
        self.rules = ctx.settings.inventory
        self.watermark: datetime | None = None
        self.next_due: datetime | None = None
        # Loaded from inventory_levels on first use (in the warehouse thread).
        self.previous: dict[StockKey, tuple[str, datetime | None]] | None = None
        self.last_daily: datetime | None = None
        self.pending = False  # levels to evaluate (new stock movements or event time moved on)
        self.improving: dict[StockKey, datetime] = {}  # better than recorded, since when
        self.evaluated = 0.0  # monotonic time of the last evaluation
        registry = ctx.metrics.registry
        self.folded = Counter(
            "bloodtrace_inventory_units_folded", "Donations refolded", registry=registry
        )
        self.alerted = Counter(
            "bloodtrace_inventory_level_alerts", "Levels crossed into worse", registry=registry
        )
        self.evaluations = Counter(
            "bloodtrace_inventory_evaluations", "Level evaluations", registry=registry
        )

    def prepare(self, events: list[Any]) -> Work | None:
        """On the event loop: the donations a batch touches, and whether to evaluate."""
        dins: set[str] = set()
        latest: datetime | None = None
        for event in events:
            try:
                record = orjson.loads(event.value)
                at = event_time(record["occurred_at"])
                if record["type"] in _TYPES:
                    dins.add(din_code(record["payload"]["din"]))
            except (KeyError, TypeError, ValueError, orjson.JSONDecodeError) as exc:
                log.error("inventory skipped an unreadable record: %s", exc)
                continue
            latest = at if latest is None or at > latest else latest
        if latest is not None and (self.watermark is None or latest > self.watermark):
            self.watermark = latest
        if self.watermark is None:
            return None
        due = self.next_due is None or self.watermark >= self.next_due
        self.pending = self.pending or bool(dins) or due
        soon = time.monotonic() - self.evaluated < self.rules.evaluate_min_seconds
        if dins or (self.pending and not soon):
            return Work(dins, self.watermark, not soon)
        return None

    def write(self, work: Work | None) -> None:
        """In the warehouse thread."""
        if work is not None:
            self.update(work.dins, work.as_of, work.evaluate)

    async def flush(self) -> None:
        """Evaluate levels left pending by the rate limit (a timer calls this)."""
        if self.pending and self.watermark is not None:
            await self.ctx.in_warehouse(self.update, set(), self.watermark, True)

    # -- the warehouse thread -----------------------------------------------------------------
    def update(self, dins: set[str], as_of: datetime, evaluate: bool = True) -> None:
        client = thread_client(self.settings)
        if self.previous is None:
            self._load(client)
        if dins:
            self.refold(client, dins)
        if evaluate:
            self.pending = False
            self.evaluate(client, as_of)
            self.evaluated = time.monotonic()

    def _load(self, client: WarehouseClient) -> None:
        self.previous = {
            k: (level, since) for k, (level, since) in store.current_levels(client).items()
        }
        self.last_daily = store.last_daily(client)
        if not client.query("select count() from inventory_units").result_rows[0][0]:
            # Events loaded straight into the warehouse (seeds, imports) never passed here.
            rebuilt = rebuild(client, self.settings)
            if rebuilt:
                log.info("inventory rebuilt from %d donations already in the warehouse", rebuilt)

    def refold(self, client: WarehouseClient, dins: set[str]) -> None:
        folds = [
            fold_unit(history, self.settings.storage, self.settings.coldchain)
            for history in store.histories(client, dins).values()
            if history
        ]
        store.write_folds(client, folds)
        self.folded.inc(len(folds))

    def evaluate(self, client: WarehouseClient, as_of: datetime) -> None:
        assert self.previous is not None
        window = self.rules.mean_issue_window_days
        readings, _ = store.levels(client, as_of, window, self.settings)
        for key, (level, _) in self.previous.items():
            if key not in readings and level != "normal":
                readings[key] = LevelReading(0, 0, window, "normal")  # no stock, no demand
        hold = timedelta(hours=self.rules.recovery_hold_hours)
        recorded = {k: v[0] for k, v in self.previous.items()}
        changes = settle(recorded, readings, self.improving, as_of, hold)
        alerts = [
            level_alert(t, as_of, self.previous.get(t.key, ("", None))[1])
            for t in changes
            if t.worse
        ]
        rows = [store.level_row(as_of, "change", t.key, t.reading, t.previous) for t in changes]
        if self.last_daily is None or as_of.date() > self.last_daily.date():
            rows += [
                store.level_row(as_of, "daily", key, reading, reading.level)
                for key, reading in readings.items()
            ]
            self.last_daily = as_of
        # Alert first: a crash before the level row is written raises it again with the same
        # id on replay, rather than never.
        self.ctx.raise_alerts(alerts)
        self.alerted.inc(len(alerts))
        store.write_levels(client, rows)
        for t in changes:
            self.previous[t.key] = (t.level, as_of)
        self.next_due = as_of + timedelta(minutes=self.rules.evaluate_every_minutes)
        self.evaluations.inc()


def rebuild(client: WarehouseClient, settings: Settings, chunk: int = 5000) -> int:
    """Fold every donation in the warehouse again (after a bulk load that bypassed the stream,
    or a change of rules); returns the number of donations folded."""
    dins = [
        row[0]
        for row in client.query(
            "select distinct din from events where din != '' "
            "and event_type in {types:Array(String)} order by din",
            parameters={"types": list(INVENTORY_EVENT_TYPES)},
        ).result_rows
    ]
    for start in range(0, len(dins), chunk):
        histories = store.histories(client, dins[start : start + chunk])
        store.write_folds(
            client,
            [fold_unit(h, settings.storage, settings.coldchain) for h in histories.values() if h],
        )
    return len(dins)


def register(ctx: PlatformContext) -> None:
    settings, app = ctx.settings, ctx.app
    processor = Inventory(ctx)
    source = app.topic(settings.topic("events.valid"), value_type=bytes, key_type=bytes)

    @app.agent(source, name="inventory")
    async def inventory(stream: faust.StreamT[bytes]) -> None:
        await ctx.run_batches(stream, processor.prepare, processor.write)

    @app.timer(interval=settings.inventory.evaluate_min_seconds)
    async def pending_levels() -> None:
        await processor.flush()
