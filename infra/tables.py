"""Warehouse tables for accepted events: the ``events`` envelope table and one typed table per
event type, with the rows each validated event becomes.

The DDL in ``infra/migrations/0002_typed_tables.sql`` was generated from these specs by
``typed_tables_ddl()``; a unit test keeps the two in step, so a contract change without a
migration fails the tests.
"""

from __future__ import annotations

import operator
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any, Union, get_args, get_origin

from pydantic import AwareDatetime, BaseModel

from models.events import PAYLOADS, EnvelopeBase, Payload

SOURCE_COLUMNS = ("src_partition", "src_offset")
ENVELOPE_COLUMNS = ("event_id", "occurred_at", "recorded_at", "facility_id")

TABLE_NAMES: dict[str, str] = {
    "donor.registered": "donor_registrations",
    "donor.deferred": "donor_deferrals",
    "donation.collected": "donations",
    "test.result_recorded": "test_results",
    "unit.released": "unit_releases",
    "unit.quarantined": "unit_quarantines",
    "component.produced": "components",
    "unit.stored": "unit_storage",
    "storage.temperature_recorded": "temperature_readings",
    "unit.shipped": "shipments",
    "unit.received": "receipts",
    "crossmatch.performed": "crossmatches",
    "unit.issued": "unit_issues",
    "unit.returned": "unit_returns",
    "unit.transfused": "transfusions",
    "transfusion.reaction_reported": "transfusion_reactions",
    "unit.discarded": "discards",
    "recall.opened": "recalls",
    "lookback.acknowledged": "lookback_acknowledgements",
}

_LOW_CARDINALITY = {
    "facility_id",
    "site_id",
    "county_code",
    "site_kind",
    "donation_kind",
    "donor_group",
    "abo_rh",
    "recipient_abo_rh",
    "component_type",
    "equipment_kind",
    "cause",
    "category",
    "severity",
    "marker",
    "method",
    "sex",
    "donor_sex",
    "location_id",
    "to_facility_id",
    "from_facility_id",
    "product_code",
    "ward",
}


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, optional?) of an annotation, through Annotated and ``X | None``."""
    optional = False
    while True:
        origin = get_origin(annotation)
        if origin is typing.Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(get_args(annotation))
            annotation = args[0]
        else:
            return annotation, optional


def clickhouse_type(name: str, annotation: Any) -> str:
    inner, optional = _unwrap(annotation)
    if get_origin(inner) is list:
        (item,) = get_args(inner)
        return f"Array({clickhouse_type(name, item)})"
    if get_origin(inner) is typing.Literal or (isinstance(inner, type) and issubclass(inner, Enum)):
        return "LowCardinality(String)"
    if inner is bool:
        base = "Bool"
    elif inner is int:
        base = "Int32"
    elif inner is float:
        base = "Float64"
    elif inner is datetime or inner is AwareDatetime:
        base = "DateTime64(3, 'UTC')"
    elif inner is date:
        base = "Date32"
    else:
        # Strings are never Nullable: an absent optional string is ''.
        return "LowCardinality(String)" if name in _LOW_CARDINALITY else "String"
    return f"Nullable({base})" if optional else base


@dataclass(frozen=True)
class TableSpec:
    event_type: str
    table: str
    columns: tuple[tuple[str, str], ...]  # (name, ClickHouse type), in insert order
    order_by: tuple[str, ...]
    rows: Callable[[EnvelopeBase], list[tuple[Any, ...]]]

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]


def _order_by(fields: list[str]) -> tuple[str, ...]:
    for key in ("din", "equipment_id", "donor_id", "recall_id", "notice_id"):
        if key in fields:
            return (key, "occurred_at")
    return ("occurred_at",)


def _spec(event_type: str, payload: type[Payload]) -> TableSpec:
    table = TABLE_NAMES[event_type]
    envelope = [
        ("event_id", "UUID"),
        ("occurred_at", "DateTime64(3, 'UTC')"),
        ("recorded_at", "DateTime64(3, 'UTC')"),
        ("facility_id", "LowCardinality(String)"),
    ]
    fields = payload.model_fields
    nested = {
        name: f
        for name, f in fields.items()
        if get_origin(_unwrap(f.annotation)[0]) is list
        and isinstance(get_args(_unwrap(f.annotation)[0])[0], type)
        and issubclass(get_args(_unwrap(f.annotation)[0])[0], BaseModel)
    }
    flat = [name for name in fields if name not in nested]
    body = [(name, clickhouse_type(name, fields[name].annotation)) for name in flat]
    if nested:
        # A list of sub-records (test results) becomes one row per item.
        (list_name,) = nested
        item_model: type[BaseModel] = get_args(_unwrap(nested[list_name].annotation)[0])[0]
        item_fields = list(item_model.model_fields)
        body += [
            (name, clickhouse_type(name, item_model.model_fields[name].annotation))
            for name in item_fields
        ]
    columns = tuple(envelope + body + [("src_partition", "UInt16"), ("src_offset", "UInt64")])

    # Hot path (every event): attrgetter, and no per-value type checks. Enum members are str
    # subclasses and serialise as their value; only optional strings need None -> ''.
    string_cols = {name for name, ch_type in body if "String" in ch_type and "Array" not in ch_type}
    blank_when_none = [i for i, name in enumerate(flat) if name in string_cols]
    get_flat = operator.attrgetter(*flat) if len(flat) > 1 else None
    list_name = next(iter(nested), "")
    get_item = operator.attrgetter(*item_fields) if nested and len(item_fields) > 1 else None

    def rows(event: EnvelopeBase) -> list[tuple[Any, ...]]:
        p = event.payload  # type: ignore[attr-defined]
        head = (event.event_id, event.occurred_at, event.recorded_at, event.facility_id)
        values = get_flat(p) if get_flat is not None else (getattr(p, flat[0]),)
        if any(values[i] is None for i in blank_when_none):
            values = tuple(
                "" if v is None and i in blank_when_none else v for i, v in enumerate(values)
            )
        if not nested:
            return [head + values]
        assert get_item is not None
        return [head + values + get_item(item) for item in getattr(p, list_name)]

    return TableSpec(event_type, table, columns, _order_by(flat), rows)


TABLES: dict[str, TableSpec] = {name: _spec(name, payload) for name, payload in PAYLOADS.items()}

# The envelope table: every accepted event once, with its payload as JSON, ordered by unit.
EVENTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "UUID"),
    ("event_type", "LowCardinality(String)"),
    ("schema_version", "UInt16"),
    ("occurred_at", "DateTime64(3, 'UTC')"),
    ("recorded_at", "DateTime64(3, 'UTC')"),
    ("facility_id", "LowCardinality(String)"),
    ("din", "String"),
    ("product_code", "LowCardinality(String)"),
    ("donor_id", "String"),
    ("recipient_id", "String"),
    ("equipment_id", "String"),
    ("payload", "String"),
    ("src_partition", "UInt16"),
    ("src_offset", "UInt64"),
)


def typed_tables_ddl(event_types: list[str] | None = None) -> str:
    """CREATE TABLE statements for the typed tables of ``event_types`` (default: all), used to
    write migration 0002 and, for types added later, their own migrations."""
    statements = []
    for spec in TABLES.values():
        if event_types is not None and spec.event_type not in event_types:
            continue
        cols = ",\n".join(f"    {name} {ch_type}" for name, ch_type in spec.columns)
        statements.append(
            f"create table if not exists {spec.table}\n(\n{cols},\n"
            "    ingested_at DateTime64(3, 'UTC') default now64(3)\n)\n"
            "engine = MergeTree\n"
            "partition by toYYYYMM(occurred_at)\n"
            f"order by ({', '.join(spec.order_by)})\n"
            "settings non_replicated_deduplication_window = 10000;\n"
        )
    return "\n".join(statements)
