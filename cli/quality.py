"""`bloodtrace quality run|findings|runs|summary`: data quality checks and wastage causes.

While the platform runs it owns the embedded warehouse, so these commands ask its HTTP API
(/v1/quality/...); otherwise they open the warehouse themselves. Either way the same functions
in expectations.runner do the work.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli._output import console, err_console, friendly, print_json, print_table
from cli._platform import api_call, platform_is_up, platform_or_warehouse
from infra.errors import ConfigError
from infra.settings import Settings, get_settings

CRITICAL_EXIT_CODE = 4
SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def _store() -> ModuleType:
    """expectations.store, imported only on the warehouse path (it loads pandas)."""
    from expectations import store

    return store


def _local_run(settings: Settings, since: Any, everything: bool) -> dict[str, Any]:
    from expectations.runner import run_quality  # GX and pandas load only when needed

    with Progress(
        TextColumn("[bold]quality[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,  # stdout stays clean for --json
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=None)

        def progress(what: str, done: int, total: int) -> None:
            bar.update(task, description=what, completed=done, total=total)

        run = run_quality(settings, since, everything, progress=progress)
    return run.to_dict(findings=50)


def _print_run(result: dict[str, Any], shown: int) -> None:
    console.rule(f"quality run {result['run_id']}")
    console.print(
        f"window: {result['window']}   data clock (as of): {result['as_of']}\n"
        f"rows checked {result['rows_checked']:,}   checks {result['checks_run']}   "
        f"failed {result['checks_failed']}",
        highlight=False,
    )
    failed = [c for c in result["checks"] if not c["success"]]
    if failed:
        print_table(
            "failed checks",
            ["check", "severity", "table", "rows failing", "error"],
            [
                (c["name"], c["severity"], c["table"], c["unexpected_count"], c.get("error") or "")
                for c in failed
            ],
        )
    print_table(
        "findings by severity", ["severity", "findings"], result["findings_by_severity"].items()
    )
    if result["wastage_by_cause"]:
        print_table(
            "wastage by cause (discards in this window)",
            ["cause", "units", "volume (ml)"],
            [(w["cause"], w["units"], w["volume_ml"]) for w in result["wastage_by_cause"]],
        )
    for finding in result["findings"][:shown]:
        style = SEVERITY_STYLE.get(finding["severity"], "")
        console.print(f"[{style}]{finding['severity']}[/] {finding['check']}", highlight=False)
        console.print(f"  {finding['message_en']}", highlight=False)
        console.print(f"  {finding['message_zh']}", highlight=False)
    more = result["findings_total"] - min(shown, len(result["findings"]))
    if more > 0:
        console.print(f"… and {more} more: `bloodtrace quality findings`", highlight=False)
    if result.get("docs_index"):
        console.print(f"Data Docs: {result['docs_index']}", highlight=False)
    if result["critical_failed"]:
        console.print("[bold red]critical checks failed[/]")


def register(app: typer.Typer) -> None:
    quality_app = typer.Typer(
        help="Data quality: Great Expectations checks over the warehouse, and wastage causes.",
        no_args_is_help=True,
    )
    app.add_typer(quality_app, name="quality")

    @quality_app.command("run")
    @friendly
    def run(
        since: str | None = typer.Option(
            None,
            "--since",
            help="Check events that occurred since a date, timestamp or duration "
            "(2026-03-01, 2026-03-01T08:00Z, 24h, 7d) instead of new data only.",
        ),
        everything: bool = typer.Option(False, "--all", help="Check everything."),
        shown: int = typer.Option(10, "--show", help="Findings to print."),
        as_json: bool = typer.Option(False, "--json", help="Print the run as JSON."),
    ) -> None:
        """Run every quality suite, store the findings (quality_findings) and the run's summary
        (quality_runs, quality_check_results), rebuild the Data Docs under the data directory.
        By default only data ingested since the last run is checked. Exit code 4 when a
        critical check failed."""
        from expectations.window import parse_since

        if since and everything:
            raise ConfigError("--since and --all exclude each other.", hint="Use one of them.")
        since_at = parse_since(since)
        settings = get_settings()
        if platform_is_up(settings):
            with console.status("the platform is running the quality checks…"):
                result = api_call(
                    settings,
                    "POST",
                    "/v1/quality/runs",
                    json={"since": since_at.isoformat() if since_at else None, "all": everything},
                    timeout=3600,
                )
        else:
            result = _local_run(settings, since_at, everything)
        if as_json:
            print_json(result)
        else:
            _print_run(result, shown)
        if result["critical_failed"]:
            raise typer.Exit(CRITICAL_EXIT_CODE)

    @quality_app.command("findings")
    @friendly
    def findings(
        run_id: str | None = typer.Option(None, "--run", help="A run id (default: the latest)."),
        severity: str | None = typer.Option(None, "--severity", help="critical, warning or info."),
        check: str | None = typer.Option(None, "--check", help="A check name."),
        din: str | None = typer.Option(None, "--din", help="A 13-character DIN."),
        limit: int = typer.Option(50, "--limit", help="At most this many."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """List a run's findings, gravest first, each in English and Chinese."""
        if severity and severity not in SEVERITY_STYLE:
            raise ConfigError(f"--severity {severity!r} is not one of critical, warning, info.")
        params = {"run_id": run_id, "severity": severity, "check": check, "din": din}
        params = {k: v for k, v in params.items() if v}
        settings = get_settings()
        rows = platform_or_warehouse(
            settings,
            "/v1/quality/findings",
            lambda c: {"findings": _store().list_findings(c, limit=limit, **params)},
            params={**params, "limit": limit},
        )["findings"]
        if as_json:
            print_json(rows)
            return
        if not rows:
            console.print("no findings")
        for row in rows:
            style = SEVERITY_STYLE.get(row["severity"], "")
            console.print(
                f"[{style}]{row['severity']}[/] {row['check_name']}  {row['din'] or ''}",
                highlight=False,
            )
            console.print(f"  {row['message_en']}", highlight=False)
            console.print(f"  {row['message_zh']}", highlight=False)

    @quality_app.command("runs")
    @friendly
    def runs(
        limit: int = typer.Option(10, "--limit", help="At most this many, latest first."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """The latest quality runs: window, checks failed and findings by severity."""
        settings = get_settings()
        rows = platform_or_warehouse(
            settings,
            "/v1/quality/runs",
            lambda c: {"runs": _store().list_runs(c, limit=limit)},
            params={"limit": limit},
        )["runs"]
        if as_json:
            print_json(rows)
            return
        print_table(
            "quality runs",
            ["run", "mode", "started", "rows", "failed", "critical", "warning", "info"],
            [
                (
                    r["run_id"],
                    r["mode"],
                    r["started_at"][:19],
                    r["rows_checked"],
                    r["checks_failed"],
                    r["critical"],
                    r["warning"],
                    r["info"],
                )
                for r in rows
            ],
        )

    @quality_app.command("summary")
    @friendly
    def summary(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Wastage by cause (as the evidence tells it) and the latest run's findings."""
        settings = get_settings()
        if platform_is_up(settings):
            body = api_call(settings, "GET", "/v1/quality/summary")
        else:
            from expectations.runner import quality_summary

            body = quality_summary(settings)
        if as_json:
            print_json(body)
            return
        print_table(
            "wastage by cause",
            ["cause", "units", "volume (ml)", "share", "record disagrees"],
            [
                (w["cause"], w["units"], w["volume_ml"], f"{w['share']:.1%}", w["disputed"])
                for w in body["wastage_by_cause"]
            ],
        )
        print_table(
            "latest run: findings by severity",
            ["severity", "findings"],
            body["findings_by_severity"].items(),
        )
