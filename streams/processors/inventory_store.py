"""Inventory's warehouse side: unit histories in, folded states and levels out, and the
reports behind GET /v1/inventory, /v1/inventory/expiring, /v1/inventory/levels and
`bloodtrace inventory` (one service function per report, used by the API and the CLI alike).

``as_of`` is event time: by default the latest ``occurred_at`` in the warehouse, so a replayed
or simulated history reads as it did live. Stock is always the current fold of every unit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from infra.errors import InvalidIdentifier
from infra.settings import Settings
from infra.warehouse import WarehouseClient, insert
from infra.where import Where
from models.inventory import (
    CITY,
    INVENTORY_EVENT_TYPES,
    LEVEL_NAMES_ZH,
    Fold,
    LevelReading,
    StockKey,
    UnitEvent,
    city_totals,
    evaluate,
    suggest_destination,
)
from models.isbt128 import parse_abo_rh

UNIT_COLUMNS = (
    "din",
    "product_code",
    "component_type",
    "abo_rh",
    "facility_id",
    "status",
    "expires_at",
    "updated_at",
    "version",
)
OUTFLOW_COLUMNS = (
    "event_id",
    "din",
    "product_code",
    "component_type",
    "abo_rh",
    "facility_id",
    "kind",
    "occurred_at",
    "version",
)
LEVEL_COLUMNS = (
    "evaluated_at",
    "kind",
    "facility_id",
    "abo_rh",
    "component_type",
    "available",
    "mean_daily_issue",
    "days_of_supply",
    "level",
    "previous_level",
    "window_days",
)


@lru_cache(maxsize=256)
def _group_of(text: str) -> str:
    return parse_abo_rh(text) if text else ""


def _unit_event(row: Sequence[Any]) -> UnitEvent:
    din, event_id, kind, at, facility, product, group, ctype, expires, to, minutes, order = row
    return UnitEvent(
        event_id=event_id,
        event_type=kind,
        at=at,
        facility_id=facility,
        din=din,
        product_code=product,
        abo_rh=_group_of(group),
        component_type=ctype,
        expires_at=datetime.fromisoformat(expires) if expires else None,
        to_facility_id=to,
        minutes_out=minutes,
        order=int(order),
    )


# The fields inventory needs, extracted by the warehouse from each event's JSON (`payload`
# holds the whole event); the event id as text (decoding UUIDs in Python is slow).
_HISTORY_SQL = (
    "select din, toString(event_id), event_type, occurred_at, facility_id, product_code, "
    + ", ".join(
        f"JSONExtractString(payload, 'payload', '{name}')"
        for name in ("abo_rh", "component_type", "expires_at", "to_facility_id")
    )
    + ", JSONExtractFloat(payload, 'payload', 'minutes_out_of_refrigeration'), src_offset "
    "from events where din in {dins:Array(String)} and event_type in {types:Array(String)}"
)


def histories(client: WarehouseClient, dins: Iterable[str]) -> dict[str, list[UnitEvent]]:
    """Every inventory event of these donations, from the warehouse (a primary-key read:
    `events` is ordered by DIN)."""
    wanted = sorted(set(dins))
    out: dict[str, list[UnitEvent]] = {din: [] for din in wanted}
    if not wanted:
        return out
    rows = client.query(
        _HISTORY_SQL, parameters={"dins": wanted, "types": list(INVENTORY_EVENT_TYPES)}
    ).result_rows
    for row in rows:
        out[row[0]].append(_unit_event(row))
    return out


def write_folds(client: WarehouseClient, folds: Iterable[Fold]) -> None:
    units, outflows = [], []
    for fold in folds:
        for c in fold.components:
            units.append(
                (
                    c.din,
                    c.product_code,
                    c.component_type,
                    c.abo_rh,
                    c.facility_id,
                    c.status,
                    c.expires_at,
                    c.updated_at,
                    fold.version,
                )
            )
        for o in fold.outflows:
            outflows.append(
                (
                    o.event_id,
                    o.din,
                    o.product_code,
                    o.component_type,
                    o.abo_rh,
                    o.facility_id,
                    o.kind,
                    o.at,
                    fold.version,
                )
            )
    insert(client, "inventory_units", units, UNIT_COLUMNS)
    insert(client, "inventory_outflows", outflows, OUTFLOW_COLUMNS)


# ---- stock, demand and levels ---------------------------------------------------------------
def watermark(client: WarehouseClient) -> datetime | None:
    """The latest event time in the warehouse: 'now' for a replayed or simulated history."""
    value = client.query("select max(occurred_at), count() from events").result_rows[0]
    return value[0] if value[1] else None


def stock(client: WarehouseClient, as_of: datetime) -> dict[StockKey, tuple[int, int, int]]:
    """(facility, group, component) -> (available, quarantined, expired on the shelf)."""
    rows = client.query(
        "select facility_id, abo_rh, component_type, "
        "countIf(status = 'available' and not expired), "
        "countIf(status = 'quarantined' and not expired), countIf(expired) "
        "from (select *, ifNull(expires_at <= {as_of:DateTime64(3, 'UTC')}, false) as expired "
        "from inventory_units final where status in ('available', 'quarantined')) "
        "group by facility_id, abo_rh, component_type",
        parameters={"as_of": as_of},
    ).result_rows
    return {(f, g, c): (int(a), int(q), int(x)) for f, g, c, a, q, x in rows}


def outflow(
    client: WarehouseClient, as_of: datetime, window_days: float
) -> tuple[dict[StockKey, int], dict[StockKey, int]]:
    """Units out in (as_of - window, as_of]: (all outflow, issues to wards only) per key."""
    rows = client.query(
        "select facility_id, abo_rh, component_type, count(), countIf(kind = 'issue') "
        "from inventory_outflows final where occurred_at > {start:DateTime64(3, 'UTC')} "
        "and occurred_at <= {as_of:DateTime64(3, 'UTC')} "
        "group by facility_id, abo_rh, component_type",
        parameters={"start": as_of - timedelta(days=window_days), "as_of": as_of},
    ).result_rows
    out = {(f, g, c): int(n) for f, g, c, n, _ in rows}
    issued = {(f, g, c): int(i) for f, g, c, _, i in rows if i}
    return out, issued


def levels(
    client: WarehouseClient, as_of: datetime, window_days: float, settings: Settings
) -> tuple[dict[StockKey, LevelReading], dict[StockKey, tuple[int, int, int]]]:
    """Level readings for every facility key and the city, and the raw stock counts."""
    counts = stock(client, as_of)
    available = {key: a for key, (a, _, _) in counts.items()}
    used, issued = outflow(client, as_of, window_days)
    readings = evaluate(available, used, window_days, settings.inventory)
    city_stock, city_used = city_totals(available, issued)
    readings.update(evaluate(city_stock, city_used, window_days, settings.inventory))
    return readings, counts


def current_levels(client: WarehouseClient) -> dict[StockKey, tuple[str, datetime]]:
    """The last recorded level of each key, and since when (the change that set it)."""
    rows = client.query(
        "select facility_id, abo_rh, component_type, argMax(level, evaluated_at), "
        "maxIf(evaluated_at, kind = 'change') from inventory_levels final "
        "group by facility_id, abo_rh, component_type"
    ).result_rows
    return {(f, g, c): (level, since) for f, g, c, level, since in rows}


def last_daily(client: WarehouseClient) -> datetime | None:
    value = client.query(
        "select max(evaluated_at), count() from inventory_levels where kind = 'daily'"
    ).result_rows[0]
    return value[0] if value[1] else None


def level_row(
    evaluated_at: datetime, kind: str, key: StockKey, reading: LevelReading, previous: str
) -> tuple[Any, ...]:
    days = reading.days_of_supply
    return (
        evaluated_at,
        kind,
        *key,
        reading.available,
        round(reading.mean_daily_issue, 4),
        None if days is None else round(days, 4),
        reading.level,
        previous,
        int(reading.window_days),
    )


def write_levels(client: WarehouseClient, rows: Sequence[tuple[Any, ...]]) -> None:
    insert(client, "inventory_levels", rows, LEVEL_COLUMNS)


# ---- reports (API and CLI) -------------------------------------------------------------------
def _as_of(client: WarehouseClient, as_of: datetime | None) -> datetime | None:
    return as_of or watermark(client)


def _group(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return parse_abo_rh(value)
    except InvalidIdentifier as exc:
        raise InvalidIdentifier(
            exc.message, hint="Use O+, O-, A+, … or an ISBT code (51, 95…)."
        ) from exc


def _reading_dict(key: StockKey, reading: LevelReading) -> dict[str, Any]:
    days = reading.days_of_supply
    return {
        "facility_id": key[0],
        "abo_rh": key[1],
        "component_type": key[2],
        "available": reading.available,
        "units_out_in_window": reading.outflow,
        "mean_daily_issue": round(reading.mean_daily_issue, 3),
        "days_of_supply": None if days is None else round(days, 2),
        "level": reading.level,
        "level_zh": LEVEL_NAMES_ZH[reading.level],
    }


def inventory_report(
    client: WarehouseClient,
    settings: Settings,
    *,
    facility: str | None = None,
    group: str | None = None,
    component: str | None = None,
    window_days: int | None = None,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """Stock and days of supply per facility × group × component, and for the whole city."""
    window = window_days or settings.inventory.mean_issue_window_days
    moment = _as_of(client, as_of)
    wanted_group = _group(group)
    report: dict[str, Any] = {
        "as_of": moment.isoformat() if moment else None,
        "window_days": window,
        "facilities": [],
        "city": [],
    }
    if moment is None:
        return report
    readings, counts = levels(client, moment, window, settings)
    for key, reading in readings.items():
        if (facility and key[0] not in (facility, CITY)) or (
            wanted_group and key[1] != wanted_group
        ):
            continue
        if component and key[2] != component:
            continue
        row = _reading_dict(key, reading)
        if key[0] == CITY:
            if reading.available or reading.outflow:  # not just units still in quarantine
                report["city"].append(row)
            continue
        _, quarantined, expired = counts.get(key, (0, 0, 0))
        row.update(quarantined=quarantined, expired_on_shelf=expired)
        report["facilities"].append(row)
    return report


def expiring_report(
    client: WarehouseClient,
    settings: Settings,
    *,
    facility: str | None = None,
    hours: float | None = None,
    as_of: datetime | None = None,
    limit: int = 1000,
) -> dict[str, Any]:
    """Available units expiring within the horizon, soonest first, each with the same-city
    facility most short of its group and component (if any is short)."""
    horizon = hours if hours is not None else settings.inventory.expiring_horizon_hours
    moment = _as_of(client, as_of)
    report: dict[str, Any] = {
        "as_of": moment.isoformat() if moment else None,
        "horizon_hours": horizon,
        "units": [],
    }
    if moment is None:
        return report
    params: dict[str, Any] = {
        "as_of": moment,
        "until": moment + timedelta(hours=horizon),
        "limit": limit,
    }
    where = ""
    if facility:
        where = " and facility_id = {facility:String}"
        params["facility"] = facility
    rows = client.query(
        "select facility_id, din, product_code, component_type, abo_rh, expires_at "
        "from inventory_units final where status = 'available' "
        "and expires_at > {as_of:DateTime64(3, 'UTC')} "
        f"and expires_at <= {{until:DateTime64(3, 'UTC')}}{where} "
        "order by expires_at, facility_id, din limit {limit:UInt32}",
        parameters=params,
    ).result_rows
    readings, _ = levels(client, moment, settings.inventory.mean_issue_window_days, settings)
    for facility_id, din, product, ctype, group, expires in rows:
        best = suggest_destination(facility_id, group, ctype, readings, settings.inventory)
        suggestion = None
        if best is not None:
            target, reading = best
            days = reading.days_of_supply
            suggestion = {
                "move_to": target,
                "level": reading.level,
                "level_zh": LEVEL_NAMES_ZH[reading.level],
                "days_of_supply": None if days is None else round(days, 2),
            }
        report["units"].append(
            {
                "facility_id": facility_id,
                "din": din,
                "product_code": product,
                "component_type": ctype,
                "abo_rh": group,
                "expires_at": expires.isoformat(),
                "hours_left": round((expires - moment).total_seconds() / 3600, 1),
                "suggestion": suggestion,
            }
        )
    return report


def levels_report(
    client: WarehouseClient,
    *,
    facility: str | None = None,
    group: str | None = None,
    component: str | None = None,
    since: datetime | None = None,
    limit: int = 5000,
) -> dict[str, Any]:
    """The history of levels (changes and daily rows), oldest first, for the dashboard."""
    where = (
        Where(params={"limit": limit})
        .equal("facility_id", facility)
        .equal("abo_rh", _group(group))
        .equal("component_type", component)
        .since("evaluated_at", since)
    )
    result = client.query(
        f"select {', '.join(LEVEL_COLUMNS)} from inventory_levels final "
        f"where {where.sql} order by evaluated_at, facility_id, abo_rh, "
        "component_type limit {limit:UInt32}",
        parameters=where.params,
    )
    return {
        "levels": [
            {
                name: value.isoformat() if isinstance(value, datetime) else value
                for name, value in zip(result.column_names, row, strict=True)
            }
            for row in result.result_rows
        ]
    }
