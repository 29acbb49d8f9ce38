"""A quality run: pull each suite's frame for the window, validate it with GX, turn failing
rows into findings, store findings and the run's summary, rebuild the Data Docs.

Entry points:
- ``run_quality(settings_or_client, since=None, all=False) -> QualityRun``
- ``scheduled_quality_run(settings) -> dict``: an incremental run, for the platform's schedule
  (QualityRules.schedule_seconds) and after a demo load.
- ``quality_summary(settings_or_client) -> dict``: wastage by cause and findings by severity.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from expectations import store
from expectations.builders import frame_builders
from expectations.checks import SEVERITIES, Suite
from expectations.findings import Finding
from expectations.frames import FrameContext, attach_event_ids
from expectations.gx_engine import CheckOutcome, GxValidator
from expectations.suites import all_suites
from expectations.window import Window, as_utc
from infra.settings import Settings, get_settings
from infra.warehouse import WarehouseClient, migrate, thread_client, translated

Progress = Callable[[str, int, int], None]  # (what is being done, steps done, steps in all)
_RUN_LOCK = threading.Lock()  # one run at a time per process: runs share the high-water mark


@dataclass
class CheckSummary:
    name: str
    suite: str
    table: str
    severity: str
    success: bool
    element_count: int
    unexpected_count: int
    findings_stored: int
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class QualityRun:
    run_id: str
    started_at: datetime
    finished_at: datetime
    window: Window
    as_of: datetime
    rows_checked: int
    checks: list[CheckSummary]
    findings: list[Finding]
    wastage: list[dict[str, Any]]  # this run's discards by derived cause
    docs_index: Path | None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        """Findings by severity (every unexpected row counts, stored or not)."""
        counts: dict[str, int] = {s: 0 for s in SEVERITIES}
        for check in self.checks:
            if not check.success:
                counts[check.severity] += max(check.unexpected_count, 1 if check.error else 0)
        return counts

    @property
    def failed_checks(self) -> list[CheckSummary]:
        return [c for c in self.checks if not c.success]

    @property
    def critical_failed(self) -> bool:
        return any(c.severity == "critical" for c in self.failed_checks)

    def to_dict(self, *, findings: int = 50) -> dict[str, Any]:
        """JSON-ready: the summary, every check, and the first ``findings`` findings."""
        return {
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "mode": self.window.mode,
            "window": self.window.describe(),
            "window_start": self.window.start.isoformat() if self.window.start else None,
            "window_end": self.window.end.isoformat(),
            "as_of": self.as_of.isoformat(),
            "rows_checked": self.rows_checked,
            "checks_run": len(self.checks),
            "checks_failed": len(self.failed_checks),
            "findings_by_severity": self.counts,
            "critical_failed": self.critical_failed,
            "wastage_by_cause": self.wastage,
            "docs_index": str(self.docs_index) if self.docs_index else None,
            "seconds": self.seconds,
            "checks": [c.to_dict() for c in self.checks],
            "findings": [f.to_dict() for f in self.findings[:findings]],
            "findings_total": len(self.findings),
        }


def _resolve(
    settings_or_client: Settings | WarehouseClient, settings: Settings | None
) -> tuple[Settings, WarehouseClient]:
    if isinstance(settings_or_client, Settings):
        return settings_or_client, thread_client(settings_or_client)
    return settings or get_settings(), settings_or_client


def _scalar(client: WarehouseClient, sql: str) -> Any:
    return client.query(sql).result_rows[0][0]


def _window(
    client: WarehouseClient, since: datetime | None, everything: bool
) -> tuple[Window, datetime | None]:
    """The run's window and the moment before which dispositions were already judged."""
    end = as_utc(_scalar(client, "select now64(3, 'UTC')"))
    if everything:
        return Window("all", end), None
    if since is not None:
        return Window("since", end, since.astimezone(UTC)), since.astimezone(UTC)
    mark = store.high_water_mark(client)
    if mark is None:
        return Window("incremental", end), None
    return Window("incremental", end, mark.window_end), mark.as_of


def run_quality(
    settings_or_client: Settings | WarehouseClient,
    since: datetime | None = None,
    all: bool = False,
    *,
    settings: Settings | None = None,
    as_of: datetime | None = None,
    progress: Progress | None = None,
    build_docs: bool = True,
) -> QualityRun:
    """Run every suite over the window and store the findings. ``as_of`` (default: the latest
    event's occurred_at, i.e. the data's own clock) is when freshness and expiry are judged."""
    settings, client = _resolve(settings_or_client, settings)
    with _RUN_LOCK, translated(settings):
        return _run(settings, client, since, all, as_of, progress, build_docs)


def _run(
    settings: Settings,
    client: WarehouseClient,
    since: datetime | None,
    everything: bool,
    as_of: datetime | None,
    progress: Progress | None,
    build_docs: bool,
) -> QualityRun:
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    migrate(client)
    started = datetime.now(UTC)
    run_id = started.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    window, judged_until = _window(client, since, everything)
    if as_of is None:
        latest = _scalar(client, "select max(occurred_at) from events")
        as_of = as_utc(latest) if latest and as_utc(latest).year > 1970 else window.end
    if judged_until is not None and judged_until > as_of:
        judged_until = as_of
    ctx = FrameContext(client, settings, window, as_of, judged_until)
    suites = all_suites(settings)
    builders = frame_builders()
    total = len(suites) * 2 + 2
    step = 0

    def tick(what: str) -> None:
        nonlocal step
        step += 1
        if progress:
            progress(what, step, total)

    if progress:
        progress("starting Great Expectations", 0, total)
    docs_dir = settings.data_path / "quality" / "data_docs" if build_docs else None
    validator = GxValidator(docs_dir, run_id, started)
    timings["setup"] = time.perf_counter() - clock

    outcomes: list[CheckOutcome] = []
    findings: list[Finding] = []
    stored: dict[str, int] = {}
    rows_checked = 0
    wastage = pd.DataFrame()
    cap = settings.quality.max_findings_per_check
    for suite in suites:
        clock = time.perf_counter()
        frame = builders[suite.name](ctx)
        timings[f"sql:{suite.name}"] = time.perf_counter() - clock
        tick(f"read {suite.name} ({len(frame)} rows)")
        clock = time.perf_counter()
        rows_checked += len(frame)
        if suite.name == "wastage":
            wastage = frame
        results = validator.validate(suite, frame)
        outcomes.extend(results)
        for outcome in results:
            if outcome.success or outcome.error:
                continue
            picked = outcome.unexpected_index[:cap]
            rows = frame.loc[picked].to_dict("records") if picked else []
            attach_event_ids(client, suite.table, rows)
            findings.extend(Finding.from_row(outcome.check, row) for row in rows)
            stored[outcome.check.name] = len(rows)
        timings[f"gx:{suite.name}"] = time.perf_counter() - clock
        tick(f"checked {suite.name}")

    clock = time.perf_counter()
    finished = datetime.now(UTC)
    store.write_findings(client, run_id, finished, findings)
    store.write_check_results(client, run_id, finished, outcomes, stored)
    store.write_discard_causes(client, run_id, finished, wastage)
    timings["write"] = time.perf_counter() - clock
    tick("stored findings")
    clock = time.perf_counter()
    docs_index = validator.build_docs() if build_docs else None
    timings["docs"] = time.perf_counter() - clock
    tick("built Data Docs")

    checks = [CheckSummary(*o.result(stored.get(o.check.name, 0)), o.error) for o in outcomes]
    run = QualityRun(
        run_id=run_id,
        started_at=started,
        finished_at=datetime.now(UTC),
        window=window,
        as_of=as_of,
        rows_checked=rows_checked,
        checks=checks,
        findings=findings,
        wastage=_wastage_summary(wastage),
        docs_index=docs_index,
        seconds={k: round(v, 3) for k, v in timings.items()},
    )
    _record_run(client, run)
    return run


def _wastage_summary(frame: pd.DataFrame) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    causes = frame["derived_cause"].fillna(frame["recorded_cause"])
    units = Counter(causes)
    volume: Counter[str] = Counter()
    for cause, ml in zip(causes, frame["volume_ml"], strict=True):
        volume[cause] += int(ml or 0)
    return [
        {"cause": c, "units": n, "volume_ml": volume[c]}
        for c, n in sorted(units.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def _record_run(client: WarehouseClient, run: QualityRun) -> None:
    counts = run.counts
    summary = {
        "failed_checks": {c.name: c.unexpected_count for c in run.failed_checks},
        "errors": {c.name: c.error for c in run.checks if c.error},
        "wastage_by_cause": run.wastage,
        "seconds": run.seconds,
    }
    store.write_run(
        client,
        {
            "run_id": run.run_id,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "mode": run.window.mode,
            "window_column": run.window.column,
            "window_start": run.window.start,
            "window_end": run.window.end,
            "as_of": run.as_of,
            "rows_checked": run.rows_checked,
            "checks_run": len(run.checks),
            "checks_failed": len(run.failed_checks),
            "findings": len(run.findings),
            "critical": counts["critical"],
            "warning": counts["warning"],
            "info": counts["info"],
            "success": not run.critical_failed,
            "docs_path": str(run.docs_index or ""),
            "summary": orjson.dumps(summary, default=str).decode(),
        },
    )


def quality_summary(
    settings_or_client: Settings | WarehouseClient, *, settings: Settings | None = None
) -> dict[str, Any]:
    """For the demo and the dashboard: the latest run, its findings by severity, and wastage
    by cause over every discard checked so far."""
    settings, client = _resolve(settings_or_client, settings)
    with translated(settings):
        migrate(client)
        runs = store.list_runs(client, limit=1)
        latest = runs[0] if runs else None
        return {
            "latest_run": latest,
            "findings_by_severity": (
                store.findings_by_severity(client, latest["run_id"])
                if latest
                else {s: 0 for s in SEVERITIES}
            ),
            "wastage_by_cause": store.wastage_by_cause(client),
        }


def scheduled_quality_run(settings: Settings) -> dict[str, Any]:
    """One incremental run, as the platform's scheduler (every QualityRules.schedule_seconds)
    and the demo call it: findings by severity, failed checks and wastage by cause. A failure
    raises (BloodtraceError): the scheduler reports the job as failed and carries on."""
    run = run_quality(settings)
    wastage = quality_summary(settings)["wastage_by_cause"]
    # Flat {name: number} maps, so the demo summary can print each as a table.
    return {
        "run_id": run.run_id,
        "window": run.window.describe(),
        "rows_checked": run.rows_checked,
        "checks_failed": len(run.failed_checks),
        "critical_failed": run.critical_failed,
        "findings_by_severity": run.counts,
        "failed_checks": {c.name: c.unexpected_count for c in run.failed_checks},
        "wastage_units_by_cause": {w["cause"]: w["units"] for w in wastage},
        "wastage_ml_by_cause": {w["cause"]: w["volume_ml"] for w in wastage},
        "docs_index": str(run.docs_index) if run.docs_index else None,
    }


def describe_suites(settings: Settings | None = None) -> list[dict[str, Any]]:
    """Every suite and check, as JSON (for --help style listings and the API)."""
    suites: list[Suite] = all_suites(settings or get_settings())
    return [
        {
            "suite": s.name,
            "table": s.table,
            "about": s.about,
            "checks": [
                {"name": c.name, "severity": c.severity, "expectation": c.describe()}
                for c in s.checks
            ],
        }
        for s in suites
    ]
