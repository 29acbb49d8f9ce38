"""Supply early warning on the warehouse: read the daily history, forecast, store the forecast
with its inputs' time range, raise or withdraw an alert per episode (models/supply.py), and
the emergency call list of a group (models/recruitment.py).

Run by the platform's scheduled job ``supply`` (``supply.schedule_seconds``, daily by
default), by ``bloodtrace forecast`` and ``GET /v1/supply/forecast`` (recomputed on demand
with ``refresh``, else the latest stored run).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from threadpoolctl import threadpool_limits

from infra.errors import NotFound
from infra.settings import Settings
from infra.warehouse import WarehouseClient
from models.alerts import Alert, alert_row
from models.inventory import COMPONENT_NAMES_ZH, LEVEL_NAMES_ZH
from models.recruitment import PLATELETS, WHOLE, CallList, DonorRecord, PastDonation, call_list
from models.supply import (
    DailyHistory,
    EpisodeChange,
    Projection,
    forecast_all,
    history_from_counts,
    update_episodes,
)
from models.supply_calendar import load_campaigns

_HISTORY_SQL = """
with comp as (
    select din, product_code, any(abo_rh) as abo_rh, any(component_type) as component_type,
           min(occurred_at) as at
    from components group by din, product_code
)
select 'collection', toDate(at, {tz:String}) as d, abo_rh, component_type, count()
from comp group by d, abo_rh, component_type
union all
select 'use', toDate(i.occurred_at, {tz:String}) as d, c.abo_rh, c.component_type, count()
from unit_issues as i inner join comp as c on i.din = c.din and i.product_code = c.product_code
group by d, c.abo_rh, c.component_type
union all
select 'discards', toDate(x.occurred_at, {tz:String}) as d, c.abo_rh, c.component_type, count()
from discards as x inner join comp as c on x.din = c.din and x.product_code = c.product_code
group by d, c.abo_rh, c.component_type
union all
select 'returns', toDate(r.occurred_at, {tz:String}) as d, c.abo_rh, c.component_type, count()
from unit_returns as r inner join comp as c on r.din = c.din and r.product_code = c.product_code
group by d, c.abo_rh, c.component_type
"""


def read_history(
    client: WarehouseClient, settings: Settings, end: date | None = None
) -> DailyHistory:
    """Daily collection, use, discards and returns per group × component, and the stock at
    the end of ``end`` (default: the last complete local day with events)."""
    rules = settings.supply
    rows = client.query(_HISTORY_SQL, parameters={"tz": rules.timezone}).result_rows
    span = client.query("select min(occurred_at), max(occurred_at) from components").result_rows
    first, last = span[0] if span else (None, None)
    if not rows or last is None or last.year < 1971:
        return DailyHistory(start=end or datetime.now(UTC).date(), days=0)
    days = [r[1] for r in rows]
    if end is None:
        end = max(days) - timedelta(days=1)  # the latest day may still be filling
    start = max(min(days), end - timedelta(days=rules.history_days - 1))
    stock: dict[tuple[str, str], float] = {}
    sign = {"collection": 1, "use": -1, "discards": -1, "returns": 1}
    for name, day, group, component, count in rows:
        if day <= end:
            key = (group, component)
            stock[key] = stock.get(key, 0.0) + sign[name] * count
    history = history_from_counts(
        ((r[0], r[1], r[2], r[3], int(r[4])) for r in rows),
        start=start,
        end=end,
        stock_end=stock,
    )
    history.first_event = _utc(first)
    history.last_event = _utc(last)
    return history


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def forecast(history: DailyHistory, settings: Settings) -> list[Projection]:
    # Small least-squares problems: BLAS threads only fight over the cores.
    with threadpool_limits(limits=1, user_api="blas"):
        return forecast_all(history, settings.supply, settings.inventory, load_campaigns())


FORECAST_COLUMNS = [
    "run_id",
    "run_at",
    "history_from",
    "history_to",
    "inputs_first_event",
    "inputs_last_event",
    "abo_rh",
    "component_type",
    "day",
    "ahead",
    "collection",
    "collection_low",
    "collection_high",
    "use",
    "use_low",
    "use_high",
    "stock",
    "stock_low",
    "stock_high",
    "days_of_supply",
    "level",
    "p_tight",
    "p_short",
    "p_critical",
]
WARNING_COLUMNS = [
    "abo_rh",
    "component_type",
    "episode",
    "state",
    "level",
    "crossing_day",
    "ahead",
    "probability",
    "run_id",
    "changed_at",
]


def _forecast_rows(
    run_id: str, run_at: datetime, history: DailyHistory, projections: Sequence[Projection]
) -> list[tuple[Any, ...]]:
    rows = []
    for p in projections:
        for d in p.days:
            rows.append(
                (
                    run_id,
                    run_at,
                    history.start,
                    history.end,
                    history.first_event,
                    history.last_event,
                    p.abo_rh,
                    p.component_type,
                    d.day,
                    d.ahead,
                    d.collection,
                    d.collection_low,
                    d.collection_high,
                    d.use,
                    d.use_low,
                    d.use_high,
                    d.stock,
                    d.stock_low,
                    d.stock_high,
                    d.days_of_supply,
                    d.level,
                    d.p_below.get("tight", 0.0),
                    d.p_below.get("short", 0.0),
                    d.p_below.get("critical", 0.0),
                )
            )
    return rows


def open_episodes(client: WarehouseClient) -> dict[tuple[str, str], str]:
    rows = client.query(
        "select abo_rh, component_type, episode from supply_warnings final where state = 'open'"
    ).result_rows
    return {(r[0], r[1]): r[2] for r in rows}


def episode_alert(change: EpisodeChange, run_at: datetime) -> Alert:
    group, component = change.key
    zh = COMPONENT_NAMES_ZH.get(component, component)
    c = change.crossing
    if change.kind == "raise" and c is not None:
        return Alert(
            rule="supply.crossing_forecast",
            severity="critical" if c.level == "critical" else "warning",
            subject=f"{group}|{component}",
            message_en=(
                f"{group} {component.replace('_', ' ')}: days of supply forecast to fall below "
                f"{c.line_days:g} days ({c.level}) on {c.day.isoformat()}, {c.ahead} day(s) "
                f"ahead (probability {c.probability:.0%})."
            ),
            message_zh=(
                f"{group} 型{zh}：预计 {c.day.isoformat()}（{c.ahead} 天后）库存可供天数低于 "
                f"{c.line_days:g} 天（{LEVEL_NAMES_ZH.get(c.level, c.level)}），概率 "
                f"{c.probability:.0%}。"
            ),
            raised_at=run_at,
            occurred_at=run_at,
            evidence={"episode": change.episode, **c.to_json()},
            dedup_key=change.episode,
        )
    return Alert(
        rule="supply.crossing_withdrawn",
        severity="info",
        subject=f"{group}|{component}",
        message_en=f"{group} {component.replace('_', ' ')}: the forecast shortage is withdrawn; "
        "the projection has recovered.",
        message_zh=f"{group} 型{zh}：库存预警解除，预测已恢复。",
        raised_at=run_at,
        occurred_at=run_at,
        evidence={"episode": change.episode},
        dedup_key=change.episode,
    )


def run_forecast(
    client: WarehouseClient,
    settings: Settings,
    *,
    send_alerts: Callable[[list[Alert]], None] | None = None,
    end: date | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Read, forecast, store, alert. Alerts go through ``send_alerts`` (the alerts topic),
    or straight into the alerts table when there is no broker to send them to."""
    now = now or datetime.now(UTC)
    started = time.perf_counter()
    history = read_history(client, settings, end)
    read_seconds = time.perf_counter() - started
    projections = forecast(history, settings)
    forecast_seconds = time.perf_counter() - started - read_seconds
    run_id = uuid.uuid4().hex[:16]
    rows = _forecast_rows(run_id, now, history, projections)
    if rows:
        client.insert("supply_forecasts", rows, column_names=FORECAST_COLUMNS)
    changes = update_episodes(open_episodes(client), projections, history.end)
    alerts = [episode_alert(c, now) for c in changes]
    if changes:
        client.insert(
            "supply_warnings",
            [
                (
                    c.key[0],
                    c.key[1],
                    c.episode,
                    "open" if c.kind == "raise" else "withdrawn",
                    c.crossing.level if c.crossing else "",
                    c.crossing.day if c.crossing else None,
                    c.crossing.ahead if c.crossing else 0,
                    c.crossing.probability if c.crossing else 0.0,
                    run_id,
                    now,
                )
                for c in changes
            ],
            column_names=WARNING_COLUMNS,
        )
        if send_alerts is not None:
            send_alerts(alerts)
        else:
            client.insert(
                "alerts",
                [alert_row(a.to_record(), 0, 0) for a in alerts],
                column_names=list(_alert_columns()),
            )
    return {
        "run_id": run_id,
        "run_at": now.isoformat(),
        "history": {
            "from": history.start.isoformat(),
            "to": history.end.isoformat(),
            "days": history.days,
            "first_event": history.first_event.isoformat() if history.first_event else None,
            "last_event": history.last_event.isoformat() if history.last_event else None,
        },
        "horizon_days": settings.supply.horizon_days,
        "read_seconds": round(read_seconds, 3),
        "forecast_seconds": round(forecast_seconds, 3),
        "raised": [a.evidence for a in alerts if a.rule == "supply.crossing_forecast"],
        "withdrawn": [a.subject for a in alerts if a.rule == "supply.crossing_withdrawn"],
        "projections": [p.to_json() for p in projections],
    }


def _alert_columns() -> tuple[str, ...]:
    from models.alerts import ALERT_COLUMNS

    return ALERT_COLUMNS


def latest_forecast(client: WarehouseClient) -> dict[str, Any]:
    """The latest stored run, per group × component and day ahead (for the dashboard)."""
    runs = client.query(
        "select run_id, run_at, history_from, history_to from supply_forecasts "
        "order by run_at desc limit 1"
    ).result_rows
    if not runs:
        raise NotFound(
            "No supply forecast yet.", hint="Run `bloodtrace forecast` or wait for the schedule."
        )
    run_id, run_at, start, end = runs[0]
    rows = client.query(
        "select abo_rh, component_type, day, ahead, use, stock, stock_low, stock_high, "
        "days_of_supply, level, p_tight, p_short, p_critical from supply_forecasts "
        "where run_id = {r:String} order by abo_rh, component_type, ahead",
        parameters={"r": run_id},
    ).result_rows
    series: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for g, c, day, ahead, use, stock, low, high, dos, level, pt, ps, pc in rows:
        series.setdefault((g, c), []).append(
            {
                "day": day.isoformat(),
                "ahead": ahead,
                "use": round(use, 2),
                "stock": [round(stock, 1), round(low, 1), round(high, 1)],
                "days_of_supply": None if dos is None else round(dos, 2),
                "level": level,
                "p_below": {"tight": pt, "short": ps, "critical": pc},
            }
        )
    warnings = open_episodes(client)
    run_at_utc = _utc(run_at)
    return {
        "run_id": run_id,
        "run_at": run_at_utc.isoformat() if run_at_utc else None,
        "history": {"from": start.isoformat(), "to": end.isoformat()},
        "series": [
            {"abo_rh": g, "component_type": c, "warning_open": (g, c) in warnings, "days": d}
            for (g, c), d in series.items()
        ],
    }


def scheduled_forecast(settings: Settings) -> dict[str, Any]:
    """The platform's scheduled job: alerts go to the alerts topic."""
    from confluent_kafka import Producer as KafkaProducer

    from infra.warehouse import thread_client

    producer = KafkaProducer({"bootstrap.servers": settings.bootstrap_servers})
    topic = settings.topic("alerts")

    def send(alerts: list[Alert]) -> None:
        for a in alerts:
            producer.produce(topic, value=a.to_record(), key=a.subject.encode())
        if producer.flush(30):
            raise RuntimeError("supply alerts not confirmed by the broker")

    result = run_forecast(thread_client(settings), settings, send_alerts=send)
    result.pop("projections")
    return result


# ---- emergency recruitment -------------------------------------------------------------------
_DONORS_SQL = """
select d.donor_id, any(d.abo_rh), any(r.birth_date),
       groupArray((toDate(d.occurred_at, {tz:String}), d.donation_kind, d.site_id, d.din))
from donations as d
left join (select donor_id, any(birth_date) as birth_date from donor_registrations
           group by donor_id) as r on r.donor_id = d.donor_id
where d.abo_rh = {g:String}
group by d.donor_id
"""


def read_donors(client: WarehouseClient, settings: Settings, abo_rh: str) -> list[DonorRecord]:
    """Every donor of a group with their donations, deferrals and reactive history."""
    tz = settings.supply.timezone
    rows = client.query(
        _DONORS_SQL, parameters={"tz": tz, "g": abo_rh}, settings={"join_use_nulls": 1}
    ).result_rows
    if not rows:
        return []
    deferrals: dict[str, list[tuple[date, date | None]]] = {}
    for donor_id, recorded, until in client.query(
        "select donor_id, toDate(occurred_at, {tz:String}), deferred_until from donor_deferrals",
        parameters={"tz": tz},
    ).result_rows:
        deferrals.setdefault(donor_id, []).append((recorded, until))
    infectious = settings.screening.infectious_markers
    reactive_dins = {
        r[0]
        for r in client.query(
            "select distinct din from test_results where reactive and marker in {m:Array(String)}",
            parameters={"m": infectious},
        ).result_rows
    }
    out = []
    for donor_id, group, birth, donations in rows:
        past = [PastDonation(on, str(kind), site) for on, kind, site, _ in donations]
        out.append(
            DonorRecord(
                donor_id,
                group,
                birth,
                past,
                deferrals.get(donor_id, []),
                any(din in reactive_dins for *_, din in donations),
            )
        )
    return out


def turn_up_rate(settings: Settings) -> float:
    """The share of called donors who come. No call outcomes are recorded yet, so the
    configured rate stands in for the observed one."""
    return settings.supply.default_turn_up_rate


def recruit(
    client: WarehouseClient,
    settings: Settings,
    abo_rh: str,
    *,
    component: str = "red_cells",
    call_day: date | None = None,
    projections: Sequence[Projection] | None = None,
) -> CallList:
    """The call list of a group for the day after the history, sized to close the projected
    gap under the warning line over ``supply.recruit_horizon_days``."""
    if projections is None:
        history = read_history(client, settings)
        projections = forecast(history, settings) if history.days else []
        day = call_day or history.end + timedelta(days=1)
    else:
        day = call_day or datetime.now(UTC).date()
    projection = next(
        (p for p in projections if (p.abo_rh, p.component_type) == (abo_rh, component)), None
    )
    line = settings.inventory.normal_min_days
    gap = 0.0
    if projection is not None:
        for d in projection.days[: settings.supply.recruit_horizon_days]:
            if d.days_of_supply is not None and d.use > 0:
                need = line * (d.stock / d.days_of_supply) - d.stock  # units under the line
                gap = max(gap, need)
    kind = PLATELETS if component == "platelets" else WHOLE
    return call_list(
        read_donors(client, settings, abo_rh),
        abo_rh,
        day,
        settings.donor,
        kind=kind,
        gap_units=gap,
        turn_up_rate=turn_up_rate(settings),
    )
