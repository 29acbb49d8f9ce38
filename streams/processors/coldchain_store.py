"""The cold chain's warehouse side: excursion and flag rows, and the excursions report.

Both tables are ReplacingMergeTree with deterministic keys, so a batch written again after a
crash collapses into the rows already there. The report is the one service function behind
GET /v1/coldchain/excursions and `bloodtrace inventory excursions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from infra.warehouse import WarehouseClient, insert
from infra.where import Where
from models.coldchain import Excursion, UnitFlag

EXCURSION_COLUMNS = (
    "excursion_id",
    "equipment_id",
    "equipment_kind",
    "facility_id",
    "condition_key",
    "condition_text",
    "component_types",
    "breaches",
    "status",
    "started_at",
    "last_reading_at",
    "ended_at",
    "confirmed_at",
    "duration_minutes",
    "peak_c",
    "lowest_c",
    "highest_c",
    "readings_out",
    "units_flagged",
    "version",
)
FLAG_COLUMNS = (
    "flag_id",
    "din",
    "product_code",
    "component_type",
    "reason",
    "recommendation",
    "facility_id",
    "equipment_id",
    "excursion_id",
    "exposed_from",
    "flagged_at",
    "detail",
    "withdrawn",
)
STATUSES = ("open", "confirmed", "ended_within_tolerance", "ended_confirmed")


def excursion_row(excursion: Excursion) -> tuple[Any, ...]:
    e = excursion
    until_ms = int(e.until.timestamp() * 1000)
    return (
        e.excursion_id,
        e.equipment_id,
        e.equipment_kind,
        e.facility_id,
        e.condition_key,
        e.condition.describe(),
        list(e.component_types),
        list(e.breaches),
        e.status,
        e.started_at,
        e.last_reading_at,
        e.ended_at,
        e.confirmed_at,
        round(e.duration.total_seconds() / 60, 3),
        e.peak_c,
        e.lowest_c,
        e.highest_c,
        e.readings_out,
        len(e.flagged),
        # Later states win: the excursion's end (or latest reading), then flag changes.
        until_ms * 100_000 + min(e.changes, 99_999),
    )


def flag_row(flag: UnitFlag, withdrawn: bool = False) -> tuple[Any, ...]:
    return (
        flag.flag_id,
        flag.din,
        flag.product_code,
        flag.component_type or "",
        flag.reason,
        flag.recommendation,
        flag.facility_id,
        flag.equipment_id,
        flag.excursion_id,
        flag.exposed_from,
        flag.flagged_at,
        orjson.dumps(flag.detail).decode(),
        withdrawn,
    )


def write(
    client: WarehouseClient,
    excursions: Sequence[Excursion],
    flags: Sequence[UnitFlag],
    withdrawn: Sequence[UnitFlag] = (),
) -> None:
    """Excursion states and flags; a withdrawn flag is written again, marked (same flag_id:
    the later row replaces the earlier)."""
    rows = [excursion_row(e) for e in excursions]
    insert(client, "coldchain_excursions", rows, EXCURSION_COLUMNS)
    flag_rows = [flag_row(f) for f in flags] + [flag_row(f, withdrawn=True) for f in withdrawn]
    insert(client, "coldchain_unit_flags", flag_rows, FLAG_COLUMNS)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def excursions_report(
    client: WarehouseClient,
    *,
    facility: str | None = None,
    equipment: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    limit: int = 200,
) -> dict[str, Any]:
    """Excursions, latest first, each with the units it flagged; plus the units flagged for
    discard after a return out of refrigeration (they belong to no excursion)."""
    where = (
        Where(params={"limit": limit})
        .equal("facility_id", facility, name="facility")
        .equal("equipment_id", equipment, name="equipment")
        .equal("status", status)
        .since("started_at", since)
    )
    result = client.query(
        f"select {', '.join(EXCURSION_COLUMNS[:-1])} from coldchain_excursions final "
        f"where {where.sql} order by started_at desc, equipment_id limit {{limit:UInt32}}",
        parameters=where.params,
    )
    excursions = [
        {name: _plain(value) for name, value in zip(result.column_names, row, strict=True)}
        for row in result.result_rows
    ]
    ids = [e["excursion_id"] for e in excursions]
    units: dict[str, list[dict[str, Any]]] = {}
    if ids:
        flag_rows = client.query(
            "select excursion_id, din, product_code, component_type, exposed_from, flagged_at "
            "from coldchain_unit_flags final where reason = 'excursion' and not withdrawn "
            "and excursion_id in {ids:Array(String)} order by din, product_code",
            parameters={"ids": ids},
        ).result_rows
        for excursion, din, product, ctype, exposed, flagged in flag_rows:
            units.setdefault(excursion, []).append(
                {
                    "din": din,
                    "product_code": product,
                    "component_type": ctype,
                    "exposed_from": _plain(exposed),
                    "flagged_at": _plain(flagged),
                }
            )
    for excursion in excursions:
        excursion["units"] = units.get(excursion["excursion_id"], [])
    return {"excursions": excursions, "returns": _returns_flagged(client, facility, limit)}


def _returns_flagged(
    client: WarehouseClient, facility: str | None, limit: int
) -> list[dict[str, Any]]:
    where = Where(["reason = 'returned_out_of_refrigeration'"], {"limit": limit})
    where.equal("facility_id", facility, name="facility")
    result = client.query(
        "select din, product_code, facility_id, flagged_at, detail from coldchain_unit_flags "
        f"final where {where.sql} order by flagged_at desc limit {{limit:UInt32}}",
        parameters=where.params,
    )
    out = []
    for din, product, facility_id, flagged, detail in result.result_rows:
        data = orjson.loads(detail) if detail else {}
        out.append(
            {
                "din": din,
                "product_code": product,
                "facility_id": facility_id,
                "returned_at": _plain(flagged),
                "minutes_out": data.get("minutes_out"),
                "limit_minutes": data.get("limit_minutes"),
                "recommendation": "discard",
            }
        )
    return out
