"""Reading and writing the quality tables (infra/migrations/0300_quality.sql)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pandas as pd

from expectations.checks import SEVERITIES
from expectations.findings import Finding
from expectations.gx_engine import CheckOutcome
from expectations.window import as_utc
from infra.warehouse import WarehouseClient, insert
from infra.where import Where

FINDING_COLUMNS = (
    "run_id",
    "found_at",
    "check_name",
    "suite",
    "table_name",
    "severity",
    "din",
    "product_code",
    "event_id",
    "facility_id",
    "cause",
    "evidence",
    "message_en",
    "message_zh",
    "occurred_at",
)
CHECK_COLUMNS = (
    "run_id",
    "check_name",
    "suite",
    "table_name",
    "severity",
    "success",
    "element_count",
    "unexpected_count",
    "findings_stored",
    "checked_at",
)
CAUSE_COLUMNS = (
    "discard_event_id",
    "din",
    "product_code",
    "facility_id",
    "discarded_at",
    "component_type",
    "volume_ml",
    "recorded_cause",
    "derived_cause",
    "agrees",
    "evidence",
    "run_id",
    "checked_at",
)
RUN_COLUMNS = (
    "run_id",
    "started_at",
    "finished_at",
    "mode",
    "window_column",
    "window_start",
    "window_end",
    "as_of",
    "rows_checked",
    "checks_run",
    "checks_failed",
    "findings",
    "critical",
    "warning",
    "info",
    "success",
    "docs_path",
    "summary",
)


@dataclass(frozen=True)
class HighWaterMark:
    window_end: datetime  # ingested_at covered by the last incremental or full run
    as_of: datetime  # the data clock it judged dispositions by


def high_water_mark(client: WarehouseClient) -> HighWaterMark | None:
    rows = client.query(
        "select window_end, as_of from quality_runs where mode in ('incremental', 'all') "
        "order by window_end desc limit 1"
    ).result_rows
    if not rows:
        return None
    return HighWaterMark(as_utc(rows[0][0]), as_utc(rows[0][1]))


def write_findings(
    client: WarehouseClient, run_id: str, found_at: datetime, findings: list[Finding]
) -> None:
    rows = [
        (
            run_id,
            found_at,
            f.check,
            f.suite,
            f.table,
            f.severity,
            f.din,
            f.product_code,
            f.event_id,
            f.facility_id,
            f.cause,
            orjson.dumps(f.evidence, default=str).decode(),
            f.message_en,
            f.message_zh,
            f.occurred_at,
        )
        for f in findings
    ]
    for start in range(0, len(rows), 50000):
        insert(client, "quality_findings", rows[start : start + 50000], FINDING_COLUMNS)


def write_check_results(
    client: WarehouseClient,
    run_id: str,
    at: datetime,
    outcomes: list[CheckOutcome],
    stored: dict[str, int],
) -> None:
    rows = [(run_id, *o.result(stored.get(o.check.name, 0)), at) for o in outcomes]
    insert(client, "quality_check_results", rows, CHECK_COLUMNS)


def write_discard_causes(
    client: WarehouseClient, run_id: str, at: datetime, frame: pd.DataFrame
) -> None:
    if frame.empty:
        return
    rows = [
        (
            r["event_id"],
            r["din"],
            r["product_code"],
            r["facility_id"],
            as_utc(r["discarded_at"]),
            _text(r["component_type"]),
            int(r["volume_ml"] or 0),
            r["recorded_cause"],
            _text(r["derived_cause"]),
            r["status"] == "agrees",
            r["evidence"],
            run_id,
            at,
        )
        for r in frame.to_dict("records")
    ]
    insert(client, "discard_causes", rows, CAUSE_COLUMNS)


def _text(value: Any) -> str:
    """A frame's text cell: missing (None, or NaN in a pandas string column) is ''."""
    return "" if value is None or pd.isna(value) else str(value)


def write_run(client: WarehouseClient, row: dict[str, Any]) -> None:
    values = [row[c] for c in RUN_COLUMNS]
    insert(client, "quality_runs", [values], RUN_COLUMNS)


# ---- reading -----------------------------------------------------------------------------
def _records(
    client: WarehouseClient, sql: str, parameters: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    result = client.query(sql, parameters=parameters or {})
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            value = (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
        out[key] = value
    return out


def list_runs(client: WarehouseClient, limit: int = 20) -> list[dict[str, Any]]:
    rows = _records(
        client,
        "select * from quality_runs order by started_at desc limit {limit:UInt32}",
        {"limit": limit},
    )
    for row in rows:
        row["summary"] = orjson.loads(row["summary"]) if row.get("summary") else {}
    return [_json_row(r) for r in rows]


def list_findings(
    client: WarehouseClient,
    *,
    run_id: str | None = None,
    severity: str | None = None,
    check: str | None = None,
    din: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Findings of one run (the latest when none is named), filtered, gravest first."""
    if run_id is None:
        latest = client.query(
            "select run_id from quality_runs order by started_at desc limit 1"
        ).result_rows
        if not latest:
            return []
        run_id = str(latest[0][0])
    where = (
        Where(["run_id = {run_id:String}"], {"run_id": run_id, "limit": limit})
        .equal("severity", severity)
        .equal("check_name", check, name="check")
        .equal("din", din)
    )
    rows = _records(
        client,
        f"select * from quality_findings where {where.sql} "
        "order by indexOf(['critical', 'warning', 'info'], severity), check_name, din "
        "limit {limit:UInt32}",
        where.params,
    )
    for row in rows:
        row["evidence"] = orjson.loads(row["evidence"]) if row.get("evidence") else {}
    return [_json_row(r) for r in rows]


def findings_by_severity(client: WarehouseClient, run_id: str) -> dict[str, int]:
    rows = client.query(
        "select severity, count() from quality_findings where run_id = {run_id:String} "
        "group by severity",
        parameters={"run_id": run_id},
    ).result_rows
    counts: dict[str, int] = {s: 0 for s in SEVERITIES}
    counts.update({str(s): int(n) for s, n in rows})
    return counts


def wastage_by_cause(client: WarehouseClient) -> list[dict[str, Any]]:
    """Discarded units and volume by the cause the evidence supports (the recorded cause where
    there is no evidence), over every discard a run has checked."""
    rows = client.query(
        "select if(derived_cause = '', recorded_cause, derived_cause) as cause, "
        "count() as units, sum(volume_ml) as volume_ml, countIf(not agrees) as disputed "
        "from discard_causes final group by cause order by units desc, cause"
    ).result_rows
    total = sum(int(r[1]) for r in rows) or 1
    return [
        {
            "cause": str(cause),
            "units": int(units),
            "volume_ml": int(volume),
            "share": round(int(units) / total, 4),
            "disputed": int(disputed),
        }
        for cause, units, volume, disputed in rows
    ]
