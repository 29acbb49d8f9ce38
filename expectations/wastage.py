"""Wastage causes: the evidence about every discard in the window, and the cause it points to.

SQL gathers what the warehouse knows about each discarded unit (reactive tests by marker,
recalls, confirmed cold-chain excursions, returns out of refrigeration, the collected volume,
expiry, quarantine reasons); expectations.causes turns it into a verdict; the frame carries
both the recorded and the derived cause so GX checks that they agree.

A cold-chain excursion is derived from the temperature readings of the equipment the unit was
stored in, while it was there, against its component's storage range (StorageRules): a run of
consecutive out-of-range readings (or, for platelets, readings without agitation) longer than
ColdChainRules.excursion_tolerance_minutes. Unit alerts in the ``alerts`` table whose rule
matches QualityRules.excursion_alert_rule_patterns (the cold-chain processor's
``coldchain.excursion_unit_quarantine``) count too where the readings alone show nothing, e.g.
when the readings are not in the warehouse.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

import orjson
import pandas as pd

from expectations.causes import (
    Evidence,
    Verdict,
    cause_from_text,
    cause_name,
    derive_cause,
    is_under_volume,
    nominal_volume,
)
from expectations.frames import FrameContext, _array, expiry_sql, query_frame
from expectations.window import as_utc
from models.rules import StorageRule

WASTAGE_COLUMNS = [
    "event_id",
    "din",
    "product_code",
    "facility_id",
    "discarded_at",
    "occurred_at",
    "component_type",
    "volume_ml",
    "recorded_cause",
    "derived_cause",
    "status",
    "recorded_en",
    "recorded_zh",
    "derived_en",
    "derived_zh",
    "evidence_en",
    "evidence_zh",
    "evidence",
]


def _range_text(rule: StorageRule | None, lang: str = "en") -> str:
    """``2–6 °C``, ``≤ -18 °C``, ``20–24 °C with agitation`` (``20–24 °C 持续振荡``)."""
    if rule is None:
        return "储存条件" if lang == "zh" else "its storage range"
    if rule.min_c is None:
        text = f"≤ {rule.max_c:g} °C"
    elif rule.max_c is None:
        text = f"≥ {rule.min_c:g} °C"
    else:
        text = f"{rule.min_c:g}–{rule.max_c:g} °C"
    if rule.needs_agitation:
        text += " 持续振荡" if lang == "zh" else " with agitation"
    return text


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def excursions_sql(ctx: FrameContext, discards_sql: str) -> str:
    """Confirmed excursions while each discarded unit was stored: one row per run of
    consecutive out-of-range readings the unit sat through for longer than the tolerance."""
    rules = ctx.settings.storage.components
    types = list(rules)
    mins = [_or(rules[t].min_c, -1000.0) for t in types]  # no lower limit (plasma)
    maxs = [_or(rules[t].max_c, 1000.0) for t in types]
    agitated = [t for t in types if rules[t].needs_agitation]
    tolerance = ctx.settings.coldchain.excursion_tolerance_minutes
    return f"""
    with d as ({discards_sql}),
    dc as (
        select d.discard_id as discard_id, d.din as din, c.product_code as product_code,
            c.component_type as component_type, d.discarded_at as discarded_at
        from d
        inner join (
            select din, product_code, any(component_type) as component_type from components
            where din in (select din from d) group by din, product_code
        ) as c on c.din = d.din
        where d.product_code = '' or d.product_code = c.product_code
    ),
    moves as (
        select din, product_code, occurred_at, equipment_id from unit_storage
        where din in (select din from d)
        union all
        select din, product_code, occurred_at, '' as equipment_id from shipments
        where din in (select din from d)
        union all
        select din, product_code, occurred_at, '' as equipment_id from unit_issues
        where din in (select din from d)
    ),
    stays as (
        select discard_id, component_type, equipment_id, stay_start,
            least(ifNull(next_move, discarded_at), discarded_at) as stay_end
        from (
            select dc.discard_id as discard_id, dc.component_type as component_type,
                dc.discarded_at as discarded_at, m.equipment_id as equipment_id,
                m.occurred_at as stay_start,
                leadInFrame(toNullable(m.occurred_at)) over (
                    partition by dc.discard_id, dc.product_code order by m.occurred_at
                    rows between unbounded preceding and unbounded following) as next_move
            from dc inner join moves as m on m.din = dc.din
            where (m.product_code = '' or m.product_code = dc.product_code)
                and m.occurred_at <= dc.discarded_at
        )
        where equipment_id != ''
    ),
    pairs as (select distinct equipment_id, component_type from stays),
    readings as (
        select p.equipment_id as equipment_id, p.component_type as component_type,
            r.occurred_at as t, r.temperature_c as temperature_c,
            r.occurred_at + toIntervalSecond(r.interval_seconds) as covered_until,
            r.temperature_c > transform(p.component_type, {_array(types)}, {_array(maxs)},
                1000.0) as too_warm,
            r.temperature_c < transform(p.component_type, {_array(types)}, {_array(mins)},
                -1000.0) as too_cold,
            -- Only a reported stop is a breach: unknown agitation (null) is not.
            has({_array(agitated) if agitated else "CAST([] AS Array(String))"},
                p.component_type) and r.agitating = false as not_agitated,
            too_warm or too_cold or ifNull(not_agitated, false) as out_of_range
        from (
            select equipment_id, occurred_at, temperature_c, interval_seconds, agitating
            from temperature_readings
            where equipment_id in (select equipment_id from pairs)
                and occurred_at >= (select min(stay_start) from stays)
                and occurred_at < (select max(stay_end) from stays)
        ) as r
        inner join pairs as p on p.equipment_id = r.equipment_id
    ),
    runs as (
        select *, sum(toUInt64(not out_of_range)) over (
            partition by equipment_id, component_type order by t
            rows between unbounded preceding and current row) as run_id
        from readings
    ),
    episodes as (
        -- Each run of consecutive out-of-range readings of one piece of equipment, judged
        -- against the range of a component type it held: computed once per equipment, not
        -- once per unit, so the cost follows the readings, not units x readings.
        select equipment_id, component_type, min(t) as started_at,
            max(covered_until) as ended_at, min(temperature_c) as min_temperature_c,
            max(temperature_c) as max_temperature_c,
            arrayFilter(x -> x != '', [if(max(too_warm), 'too_warm', ''),
                if(max(too_cold), 'too_cold', ''),
                if(max(ifNull(not_agitated, false)), 'not_agitated', '')]) as breaches
        from runs
        where out_of_range
        group by equipment_id, component_type, run_id
        having dateDiff('second', started_at, ended_at) > {float(tolerance) * 60}
    )
    -- The part of an episode the unit sat through, when longer than the tolerance.
    select s.discard_id as discard_id, e.equipment_id as equipment_id,
        e.component_type as component_type,
        greatest(e.started_at, s.stay_start) as started_at,
        least(e.ended_at, s.stay_end) as ended_at,
        dateDiff('second', greatest(e.started_at, s.stay_start),
            least(e.ended_at, s.stay_end)) / 60.0 as minutes,
        e.min_temperature_c as min_temperature_c, e.max_temperature_c as max_temperature_c,
        e.breaches as breaches
    from stays as s
    inner join episodes as e
        on e.equipment_id = s.equipment_id and e.component_type = s.component_type
    where minutes > {float(tolerance)}
    order by discard_id, started_at
    """


def _alerts_available(ctx: FrameContext) -> bool:
    rows = ctx.client.query(
        "select count() from system.columns where database = currentDatabase() "
        "and table = 'alerts' and name in ('rule', 'din', 'occurred_at', 'product_code')"
    ).result_rows
    return bool(rows and rows[0][0] == 4)


def _group(frame: pd.DataFrame, key: str = "din") -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in frame.to_dict("records"):
        grouped[row[key]].append(row)
    return grouped


def wastage_frame(ctx: FrameContext) -> pd.DataFrame:
    pred = ctx.window.predicate()
    discards_sql = (
        "select toString(event_id) as discard_id, din, product_code, cause, "
        "occurred_at as discarded_at, facility_id, volume_ml, note "
        f"from discards where {pred}"
    )
    discards = query_frame(ctx.client, discards_sql)
    if discards.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in WASTAGE_COLUMNS})
    in_window = f"din in (select din from discards where {pred})"
    q = ctx.client
    components = _group(
        query_frame(
            q,
            "select din, product_code, any(component_type) as component_type, "
            "max(volume_ml) as volume_ml, "
            f"min({expiry_sql('expires_at')}) as expires_at "
            f"from components where {in_window} group by din, product_code",
        )
    )
    reactive = _group(
        query_frame(
            q,
            "select din, marker, min(occurred_at) as at from test_results "
            f"where reactive and {in_window} group by din, marker",
        )
    )
    quarantines = _group(
        query_frame(
            q,
            "select din, product_code, reason, occurred_at as at from unit_quarantines "
            f"where {in_window}",
        )
    )
    limit = ctx.settings.coldchain.return_max_minutes_out
    returns = _group(
        query_frame(
            q,
            "select din, product_code, minutes_out_of_refrigeration as minutes, "
            "occurred_at as at from unit_returns "
            f"where {in_window} and minutes_out_of_refrigeration > {float(limit)}",
        )
    )
    recalls = _group(
        query_frame(
            q,
            "select din, recall_id, at from (select arrayJoin(dins) as din, recall_id, "
            f"occurred_at as at from recalls) where {in_window}",
        )
    )
    donations = _group(
        query_frame(
            q,
            "select din, donation_kind, volume_ml, occurred_at as at from donations "
            f"where {in_window}",
        )
    )
    excursions = _group(query_frame(q, excursions_sql(ctx, discards_sql)), "discard_id")
    alerts: dict[str, list[dict[str, Any]]] = {}
    patterns = ctx.settings.quality.excursion_alert_rule_patterns
    if patterns and _alerts_available(ctx):
        like = " or ".join(f"rule like '{p.replace(chr(39), '')}'" for p in patterns)
        alerts = _group(
            query_frame(
                q,
                "select din, product_code, alert_id, rule, occurred_at as at, message_en, "
                f"message_zh from alerts where ({like}) and din != '' and {in_window} "
                "limit 1 by alert_id",
            )
        )

    rows = []
    for d in discards.to_dict("records"):
        evidence = _evidence(
            ctx,
            d,
            components,
            reactive,
            quarantines,
            returns,
            recalls,
            donations,
            excursions,
            alerts,
        )
        discarded_at = as_utc(d["discarded_at"])
        verdict = derive_cause(str(d["cause"]), discarded_at, evidence)
        rows.append(_row(d, verdict, components.get(d["din"], [])))
    return pd.DataFrame(rows, columns=WASTAGE_COLUMNS)


def _matches(product_code: str, other: str) -> bool:
    """A record about the whole DIN ('' product code) concerns every component of it."""
    return not product_code or not other or product_code == other


def _evidence(
    ctx: FrameContext,
    d: dict[str, Any],
    components: dict[str, list[dict[str, Any]]],
    reactive: dict[str, list[dict[str, Any]]],
    quarantines: dict[str, list[dict[str, Any]]],
    returns: dict[str, list[dict[str, Any]]],
    recalls: dict[str, list[dict[str, Any]]],
    donations: dict[str, list[dict[str, Any]]],
    excursions: dict[str, list[dict[str, Any]]],
    alerts: dict[str, list[dict[str, Any]]],
) -> list[Evidence]:
    din, product = d["din"], d["product_code"] or ""
    found: list[Evidence] = []
    tests = sorted(reactive.get(din, []), key=lambda r: r["at"])
    if tests:
        found.append(
            Evidence(
                "test_reactive",
                as_utc(tests[0]["at"]),
                "test_results",
                {"markers": sorted({t["marker"] for t in tests})},
            )
        )
    for recall in recalls.get(din, []):
        found.append(
            Evidence("recall", as_utc(recall["at"]), "recalls", {"recall_id": recall["recall_id"]})
        )
    tolerance = ctx.settings.coldchain.excursion_tolerance_minutes
    rules = ctx.settings.storage.components
    for run in excursions.get(d["discard_id"], []):
        started = as_utc(run["started_at"])
        found.append(
            Evidence(
                "cold_chain_breach",
                started + timedelta(minutes=tolerance),  # confirmed once past the tolerance
                "temperature_readings",
                {
                    "equipment_id": run["equipment_id"],
                    "started_at": started,
                    "minutes": round(float(run["minutes"]), 1),
                    "min_temperature_c": round(float(run["min_temperature_c"]), 1),
                    "max_temperature_c": round(float(run["max_temperature_c"]), 1),
                    "range": _range_text(rules.get(str(run["component_type"]))),
                    "range_zh": _range_text(rules.get(str(run["component_type"])), "zh"),
                    "breaches": [str(b) for b in run["breaches"]],
                },
            )
        )
    derived_excursion = any(e.cause == "cold_chain_breach" for e in found)
    for alert in alerts.get(din, []) if not derived_excursion else []:
        if _matches(product, alert["product_code"]):
            found.append(
                Evidence(
                    "cold_chain_breach",
                    # The alert dates the exposure's start; it is confirmed past the tolerance.
                    as_utc(alert["at"]) + timedelta(minutes=tolerance),
                    "alerts",
                    {k: alert[k] for k in ("alert_id", "rule", "message_en", "message_zh")},
                )
            )
    for ret in returns.get(din, []):
        if _matches(product, ret["product_code"]):
            found.append(
                Evidence(
                    "returned_out_of_control",
                    as_utc(ret["at"]),
                    "unit_returns",
                    {
                        "minutes": float(ret["minutes"]),
                        "limit": ctx.settings.coldchain.return_max_minutes_out,
                    },
                )
            )
    mine = [c for c in components.get(din, []) if _matches(product, c["product_code"])]
    expiries = [c["expires_at"] for c in mine if not pd.isna(c["expires_at"])]
    if mine and len(expiries) == len(mine):
        # A whole-DIN discard is an expiry only when every component had expired.
        found.append(Evidence("expired", as_utc(max(expiries)), "components"))
    nominals = ctx.settings.donor.whole_blood_volumes_ml
    tolerance_fraction = ctx.settings.quality.volume_tolerance_fraction
    for donation in donations.get(din, []):
        volume = int(donation["volume_ml"])
        if donation["donation_kind"] == "whole_blood" and is_under_volume(
            volume, nominals, tolerance_fraction
        ):
            found.append(
                Evidence(
                    "under_volume",
                    as_utc(donation["at"]),
                    "donations",
                    {"volume_ml": volume, "nominal_ml": nominal_volume(volume, nominals)},
                )
            )
    for quarantine in quarantines.get(din, []):
        cause = cause_from_text(str(quarantine["reason"]))
        if cause and _matches(product, quarantine["product_code"]):
            found.append(
                Evidence(
                    cause,
                    as_utc(quarantine["at"]),
                    "unit_quarantines",
                    {"text": quarantine["reason"]},
                )
            )
    note_cause = cause_from_text(str(d.get("note") or ""))
    if note_cause:
        found.append(
            Evidence(note_cause, as_utc(d["discarded_at"]), "discards", {"text": d["note"]})
        )
    return found


def _row(d: dict[str, Any], verdict: Verdict, components: list[dict[str, Any]]) -> dict[str, Any]:
    product = d["product_code"] or ""
    mine = [c for c in components if _matches(product, c["product_code"])]
    volume = int(d["volume_ml"] or 0) or sum(int(c["volume_ml"]) for c in mine)
    types = sorted({str(c["component_type"]) for c in mine})
    return {
        "event_id": d["discard_id"],
        "din": d["din"],
        "product_code": product,
        "facility_id": d["facility_id"],
        "discarded_at": d["discarded_at"],
        "occurred_at": d["discarded_at"],
        "component_type": types[0] if len(types) == 1 else ",".join(types),
        "volume_ml": volume,
        "recorded_cause": verdict.recorded,
        "derived_cause": verdict.derived,
        "status": verdict.status,
        "recorded_en": cause_name(verdict.recorded, "en"),
        "recorded_zh": cause_name(verdict.recorded, "zh"),
        "derived_en": cause_name(verdict.derived, "en"),
        "derived_zh": cause_name(verdict.derived, "zh"),
        "evidence_en": verdict.describe("en"),
        "evidence_zh": verdict.describe("zh"),
        "evidence": orjson.dumps([e.to_json() for e in verdict.evidence]).decode(),
    }
