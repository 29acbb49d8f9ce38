"""The frames the suites validate, pulled through clickhouse-connect (chDB or a server alike).

A table suite's frame is the table's rows in the run's window, plus what a row-level check needs
from elsewhere (how many rows share an event id or a DIN, the parent donation of a component).
A cross-table frame has one row per thing a finding is about, built in SQL over the *whole*
history of what the window touched: a unit released in this window is checked against tests
stored long before it. Timestamps come back as naive UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from expectations.screening import gaps_text, screening_gaps
from expectations.window import Window, sql_time
from infra.settings import Settings
from infra.warehouse import WarehouseClient
from models.isbt128 import mod37_2

DIN_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True)
class FrameContext:
    client: WarehouseClient
    settings: Settings
    window: Window
    as_of: datetime  # the data clock: freshness and expiry are judged at this moment
    disposition_after: datetime | None  # expiry deadlines after this were not judged before


def query_frame(client: WarehouseClient, sql: str) -> pd.DataFrame:
    """A query's rows as a frame with a clean RangeIndex, and its columns even when empty."""
    frame = client.query_df(sql)
    if frame.empty and len(frame.columns) == 0:
        names = client.query(f"select * from ({sql}) limit 0").column_names
        frame = pd.DataFrame({name: pd.Series(dtype=object) for name in names})
    return frame.reset_index(drop=True)


def attach_event_ids(client: WarehouseClient, table: str, rows: list[dict[str, Any]]) -> None:
    """Give failing rows of a table frame their event id (and facility), looked up by
    (_p, _o)."""
    keys = sorted({(int(r["_p"]), int(r["_o"])) for r in rows if "_p" in r and "event_id" not in r})
    found: dict[tuple[int, int], tuple[str, str]] = {}
    for start in range(0, len(keys), 5000):
        chunk = ", ".join(f"({p}, {o})" for p, o in keys[start : start + 5000])
        result = client.query(
            f"select src_partition, src_offset, any(toString(event_id)), any(facility_id) "
            f"from {table} where (src_partition, src_offset) in ({chunk}) "
            "group by src_partition, src_offset"
        )
        found.update({(int(p), int(o)): (str(e), str(f)) for p, o, e, f in result.result_rows})
    for row in rows:
        if "_p" in row and "event_id" not in row:
            event_id, facility = found.get((int(row["_p"]), int(row["_o"])), ("", ""))
            row["event_id"] = event_id
            row.setdefault("facility_id", facility)


def expiry_sql(column: str) -> str:
    """components.expires_at as DateTime64, whether the column holds ISO text or a DateTime64
    (the warehouse schema has held both)."""
    return f"parseDateTime64BestEffortOrNull(toString({column}), 3, 'UTC')"


def naive_utc(moment: datetime) -> pd.Timestamp:
    return pd.Timestamp(moment.astimezone(UTC).replace(tzinfo=None))


def _array(values: list[str] | list[float] | list[int]) -> str:
    if values and isinstance(values[0], str):
        return "[" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) + "]"
    return "[" + ", ".join(repr(float(v)) for v in values) + "]"


# ---- table frames --------------------------------------------------------------------------
# A table frame names its rows by where they were read from (src_partition, src_offset): two
# integers travel far faster than a UUID as text, and only failing rows need their event id
# (attach_event_ids).
_IDENTITY = "src_partition as _p, src_offset as _o, occurred_at, facility_id"
_TABLE_COLUMNS: dict[str, str] = {
    "donor_registrations": "donor_id, sex, abo_rh, donor_group, county_code",
    "donor_deferrals": "donor_id, reason",
    "test_results": "din, round, marker, method, reactive, value",
    "unit_releases": "din",
    "unit_quarantines": "din, product_code, reason",
    "unit_storage": "din, product_code, location_id, equipment_id",
    "temperature_readings": "equipment_id, equipment_kind, temperature_c, interval_seconds",
    "shipments": "din, product_code, to_facility_id",
    "receipts": "din, product_code, from_facility_id, temperature_c",
    "crossmatches": "din, product_code, recipient_id, recipient_abo_rh",
    "unit_issues": "din, product_code, ward",
    "unit_returns": "din, product_code, minutes_out_of_refrigeration",
    "transfusions": "din, product_code, recipient_id, recipient_abo_rh, ward",
    "transfusion_reactions": "din, product_code, category, severity",
    "discards": "din, product_code, cause, volume_ml",
    "recalls": "recall_id, length(dins) as n_dins, reason",
}


def plain_table_frame(ctx: FrameContext, table: str) -> pd.DataFrame:
    sql = f"select {_IDENTITY}, {_TABLE_COLUMNS[table]} from {table} where {ctx.window.predicate()}"
    return query_frame(ctx.client, sql)


def events_frame(ctx: FrameContext) -> pd.DataFrame:
    """Accepted events, with how often their id is stored and the DIN exactly as sent."""
    pred = ctx.window.predicate()
    skew = ctx.settings.ingest.max_future_skew_seconds
    frame = query_frame(
        ctx.client,
        f"""
        with if(e.din = '', '', replaceRegexpOne(upper(replaceAll(JSONExtractString(
            e.payload, 'payload', 'din'), ' ', '')), '^=', '')) as sent
        select e.src_partition as _p, e.src_offset as _o, e.event_type, e.occurred_at,
            e.recorded_at, e.recorded_at + toIntervalSecond({skew}) as recorded_at_with_skew,
            e.din,
            -- The usual case (the payload carries the stored DIN) travels as ''.
            if(sent = e.din, '', sent) as din_as_sent,
            if(c.copies = 0, 1, c.copies) as copies
        from events as e
        left join (
            select event_id, count() as copies from events
            where event_id in (select event_id from events where {pred})
            group by event_id
            having copies > 1
        ) as c on c.event_id = e.event_id
        where {ctx.window.predicate("e")}
        """,
    )
    # The payload's DIN must be the unit's: with its check character (14 characters, as sent),
    # the one MOD 37-2 gives; without (13, as the platform stores a validated event), the code
    # itself. The check character is recomputed with the platform's own MOD 37-2.
    frame["din_expected"] = ""
    odd = frame["din_as_sent"] != ""
    if odd.any():
        sent, dins = frame.loc[odd, "din_as_sent"], frame.loc[odd, "din"]
        checked = {d: d + mod37_2(d) for d in dins.unique() if len(d) == 13 and set(d) <= DIN_CHARS}
        # 14 characters as sent: the DIN with its check character; 13: the DIN itself.
        expected = dins.map(checked).where(sent.str.len() == 14, dins)
        frame.loc[odd, "din_expected"] = expected.fillna(dins)
    return frame


def donations_frame(ctx: FrameContext) -> pd.DataFrame:
    pred = ctx.window.predicate()
    return query_frame(
        ctx.client,
        f"""
        select d.src_partition as _p, d.src_offset as _o, d.occurred_at, d.facility_id, d.din,
            d.donor_id,
            d.donation_kind, d.volume_ml, d.site_id, d.site_kind, d.county_code, d.abo_rh,
            d.donor_group, d.donor_age, d.donor_sex, d.first_time, d.therapeutic_units,
            c.din_copies as din_copies
        from donations as d
        inner join (
            select din, count() as din_copies from donations
            where din in (select din from donations where {pred}) group by din
        ) as c on c.din = d.din
        where {ctx.window.predicate("d")}
        """,
    )


def components_frame(ctx: FrameContext) -> pd.DataFrame:
    """Components with the latest expiry their shelf life allows and their donation's group."""
    pred = ctx.window.predicate()
    rules = ctx.settings.storage.components
    types = list(rules)
    hours = [rules[t].shelf_life_hours for t in types]
    return query_frame(
        ctx.client,
        f"""
        select c.src_partition as _p, c.src_offset as _o, c.occurred_at, c.facility_id, c.din,
            c.product_code, c.component_type, c.volume_ml, c.abo_rh,
            toString(c.expires_at) as expires_at_text, {expiry_sql("c.expires_at")} as expires_at,
            c.occurred_at + toIntervalHour(transform(c.component_type, {_array(types)},
                {_array([int(h) for h in hours])}, {max(hours)})) as latest_expiry,
            p.abo_rh as parent_abo_rh, p.collected_at as collected_at
        from components as c
        left join (
            select din, any(abo_rh) as abo_rh, min(occurred_at) as collected_at from donations
            where din in (select din from components where {pred}) group by din
        ) as p on p.din = c.din
        where {ctx.window.predicate("c")}
        settings join_use_nulls = 1
        """,
    )


# ---- cross-table frames --------------------------------------------------------------------
def release_screening_frame(ctx: FrameContext) -> pd.DataFrame:
    """One row per release in the window: the negative results it lacks (computed in SQL, so
    only the gaps travel), and markers that tested reactive at or before the release."""
    pred = ctx.window.predicate()
    rules = ctx.settings.screening
    serology = [
        f"{m}#{r}" for m in rules.serology_markers for r in range(1, rules.rounds_required + 1)
    ]
    nat = _array(rules.nat_markers) if rules.nat_markers else "CAST([] AS Array(String))"
    frame = query_frame(
        ctx.client,
        f"""
        select r.event_id as event_id, r.din as din, r.facility_id as facility_id,
            r.released_at as released_at,
            arrayFilter(x -> not has(t.negatives, x), {_array(serology)}) as missing_serology,
            arrayFilter(m -> length(arrayFilter(x -> startsWith(x, concat(m, '#')),
                t.negatives)) < {int(rules.nat_rounds_required)}, {nat}) as missing_nat,
            arraySort(arrayDistinct(arrayMap(x -> x.1,
                arrayFilter(x -> x.2 <= r.released_at, t.reactive_results)))) as reactive_markers
        from (
            select toString(event_id) as event_id, din, facility_id, occurred_at as released_at
            from unit_releases where {pred}
        ) as r
        left join (
            select din,
                groupUniqArrayIf(concat(marker, '#', toString(round)), not reactive) as negatives,
                groupArrayIf((marker, occurred_at), reactive) as reactive_results
            from test_results
            where din in (select din from unit_releases where {pred})
            group by din
        ) as t on t.din = r.din
        """,
    )
    gaps = [
        screening_gaps(list(ser), list(nat_missing))
        for ser, nat_missing in zip(frame["missing_serology"], frame["missing_nat"], strict=True)
    ]
    frame["missing_count"] = [len(g) for g in gaps]
    frame["missing_text"] = [gaps_text(g, "en") for g in gaps]
    frame["missing_text_zh"] = [gaps_text(g, "zh") for g in gaps]
    frame["reactive_count"] = [len(r) for r in frame["reactive_markers"]]
    frame["reactive_text"] = [", ".join(r) for r in frame["reactive_markers"]]
    frame["occurred_at"] = frame["released_at"]
    return frame.drop(columns=["missing_serology", "missing_nat"])


# Derived products are made from another component of the same donation: not counted again.
_PRIMARY_COMPONENTS = ("whole_blood", "red_cells", "platelets", "plasma")


def units_frame(ctx: FrameContext) -> pd.DataFrame:
    """One row per DIN with any event in the window: the first and last moment of each step."""
    pred = ctx.window.predicate()
    factor = 1 + ctx.settings.quality.component_additive_allowance
    return query_frame(
        ctx.client,
        f"""
        with touched as (
            select din, count() as events, min(occurred_at) as first_event_at,
                argMin(facility_id, occurred_at) as first_facility
            from events
            where din in (select din from events where {pred} and din != '')
            group by din
        )
        select u.din as din, u.events as events, u.first_event_at as first_event_at,
            u.first_facility as first_facility, d.facility_id as facility_id,
            d.collected_at as collected_at, d.donation_volume_ml as donation_volume_ml,
            round(d.donation_volume_ml * {factor}) as volume_limit_ml,
            t.first_tested_at as first_tested_at, t.last_tested_at as last_tested_at,
            r.released_at as released_at, c.first_produced_at as first_produced_at,
            c.components_volume_ml as components_volume_ml,
            i.first_issued_at as first_issued_at, x.first_transfused_at as first_transfused_at,
            i.first_issued_at is not null as issued,
            x.first_transfused_at is not null as transfused
        from touched as u
        left join (
            select din, min(occurred_at) as collected_at, max(volume_ml) as donation_volume_ml,
                any(facility_id) as facility_id
            from donations where din in (select din from touched) group by din
        ) as d on d.din = u.din
        left join (
            select din, min(occurred_at) as first_tested_at, max(occurred_at) as last_tested_at
            from test_results where din in (select din from touched) group by din
        ) as t on t.din = u.din
        left join (
            select din, min(occurred_at) as released_at
            from unit_releases where din in (select din from touched) group by din
        ) as r on r.din = u.din
        left join (
            select din, min(produced_at) as first_produced_at,
                sumIf(volume_ml, primary) as components_volume_ml
            from (
                select din, product_code, min(occurred_at) as produced_at,
                    max(volume_ml) as volume_ml,
                    any(component_type) in {_tuple(_PRIMARY_COMPONENTS)} as primary
                from components where din in (select din from touched)
                group by din, product_code
            )
            group by din
        ) as c on c.din = u.din
        left join (
            select din, min(occurred_at) as first_issued_at
            from unit_issues where din in (select din from touched) group by din
        ) as i on i.din = u.din
        left join (
            select din, min(occurred_at) as first_transfused_at
            from transfusions where din in (select din from touched) group by din
        ) as x on x.din = u.din
        settings join_use_nulls = 1
        """,
    )


def _tuple(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def disposition_frame(ctx: FrameContext) -> pd.DataFrame:
    """Components whose expiry plus the grace period fell due in this run: transfused,
    discarded, or nothing (lost)."""
    grace = ctx.settings.lifecycle.lost_unit_after_expiry_days
    due = f"expires_at + toIntervalDay({grace})"
    conditions = [f"{due} <= {sql_time(ctx.as_of)}"]
    if ctx.disposition_after is not None:
        conditions.append(f"{due} > {sql_time(ctx.disposition_after)}")
    return query_frame(
        ctx.client,
        f"""
        with comp as (
            select din, product_code, any(component_type) as component_type,
                any(facility_id) as produced_by,
                min({expiry_sql("expires_at")}) as expires_at
            from components
            group by din, product_code
            having expires_at is not null and {" and ".join(conditions)}
        ),
        used as (
            select din, product_code from transfusions where din in (select din from comp)
        ),
        dropped as (
            select din, product_code from discards where din in (select din from comp)
        )
        select c.din as din, c.product_code as product_code,
            c.component_type as component_type, c.expires_at as expires_at,
            c.produced_by as produced_by,
            multiIf(
                (c.din, c.product_code) in (select din, product_code from used)
                    or (c.din, '') in (select din, product_code from used), 'transfused',
                (c.din, c.product_code) in (select din, product_code from dropped)
                    or (c.din, '') in (select din, product_code from dropped), 'discarded',
                null) as disposition,
            l.last_facility as facility_id, l.last_facility as last_facility,
            l.last_seen_at as last_seen_at, c.expires_at as occurred_at
        from comp as c
        left join (
            select din, argMax(facility_id, occurred_at) as last_facility,
                max(occurred_at) as last_seen_at
            from events where din in (select din from comp) group by din
        ) as l on l.din = c.din
        settings join_use_nulls = 1
        """,
    )


def freshness_frame(ctx: FrameContext) -> pd.DataFrame:
    """Every facility that ever sent an event, and for how long it has been silent."""
    frame = query_frame(
        ctx.client,
        "select facility_id, max(occurred_at) as last_event_at, count() as events "
        "from events group by facility_id order by facility_id",
    )
    as_of = naive_utc(ctx.as_of)
    silent = (as_of - pd.to_datetime(frame["last_event_at"])) / timedelta(hours=1)
    frame["silent_hours"] = silent.astype(float).round(1)
    frame["as_of"] = as_of
    frame["occurred_at"] = frame["last_event_at"]
    return frame
