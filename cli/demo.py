"""`bloodtrace demo`: the main job on the embedded defaults, end to end.

Starts the platform (or uses the one already running), simulates a city through the SDK, waits
until every event is in the warehouse, runs the quality checks and the dbt marts, prints a
summary, then keeps the platform it started serving the dashboard until Ctrl-C (``--exit``
stops it right after the summary, for scripts).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import date
from typing import Any

import typer
from pydantic import SecretStr
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli._output import console, print_json, print_table
from cli._platform import api_call, platform_is_up
from cli.producers import simulate_and_emit
from infra.auth import new_token
from infra.errors import BloodtraceError, ConfigError, PlatformNotRunning
from infra.settings import Settings, get_settings


def first_administrator(settings: Settings) -> tuple[Settings, str | None]:
    """The demo's administrator: its token from configuration or var/secrets/admin.token, else
    a new one written there (0600). Returns the settings carrying it, and the token if it is
    new (to print once)."""
    if settings.cli_token():
        return settings.model_copy(
            update={
                "auth": settings.auth.model_copy(
                    update={"token": SecretStr(settings.cli_token() or "")}
                )
            }
        ), None
    _, _, token = new_token("admin" + secrets.token_hex(4))
    path = settings.admin_token_file
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)
    auth = settings.auth.model_copy(update={"token": SecretStr(token)})
    return settings.model_copy(update={"auth": auth}), token


def _start_platform(settings: Settings, population_sample: float) -> subprocess.Popen[bytes]:
    log_dir = settings.data_path / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "platform.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve"],
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
        # The first administrator: created by the platform at start if it does not exist.
        # The city is a sample of its residents: the marts scale populations by the same share.
        env=dict(os.environ)
        | {
            "BLOODTRACE_AUTH__BOOTSTRAP_ADMIN_TOKEN": settings.cli_token() or "",
            "BLOODTRACE_DBT__POPULATION_SAMPLE": str(population_sample),
        },
    )
    deadline = time.monotonic() + 120
    with console.status("starting the platform (broker, warehouse, worker, API)…"):
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise PlatformNotRunning(
                    f"The platform exited with code {proc.returncode} while starting.",
                    hint=f"See {log_path}.",
                )
            if platform_is_up(settings):
                try:
                    health = api_call(settings, "GET", "/health")
                except BloodtraceError:
                    health = {}
                if health.get("status") == "ok":
                    return proc
            time.sleep(0.5)
    proc.terminate()
    raise PlatformNotRunning(
        "The platform did not become healthy within 120 s.", hint=str(log_path)
    )


def _stop_leftover_broker(settings: Settings) -> None:
    """A platform killed before its clean shutdown leaves the embedded broker running."""
    from infra.broker import stop_leftover_broker

    stop_leftover_broker(settings)


def _wait_for_pipeline(settings: Settings, target: int) -> dict[str, Any]:
    """Until accepted + duplicates + rejected-by-stream covers what was sent and lag is 0."""
    with Progress(
        TextColumn("[bold]into the warehouse"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("stream", total=target)
        quiet_since: float | None = None
        while True:
            status: dict[str, Any] = api_call(settings, "GET", "/v1/status")
            metrics = status["metrics"]
            done = metrics["accepted"] + metrics["duplicates"]
            bar.update(task, completed=min(done, target))
            idle = metrics["consumer_lag"] and not any(metrics["consumer_lag"].values())
            if idle and done >= target:
                return status
            if idle:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > 20:
                    return status  # nothing left in the topics: the rest were refused
            else:
                quiet_since = None
            time.sleep(1)


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        years: int | None = typer.Option(
            None,
            "--years",
            help="Whole calendar years of city life, ending with --last-year (default: the "
            "baseline comparison's span, dbt.baseline_years_back + 1 = 5, so every growth, "
            "retention and campaign figure has its baseline year). Before the last month each "
            "logger sends one reading a day (every reading on a long excursion's day), so the "
            "years load quickly.",
        ),
        last_year: int = typer.Option(2025, "--last-year", help="The latest simulated year."),
        days: int | None = typer.Option(
            None, "--days", help="Instead of --years: days from --start (every reading)."
        ),
        city: str = typer.Option(
            "demo",
            "--city",
            help="City preset: demo (default: a 1-in-25 sample of 安康市 Ankang), small (1 in "
            "4), ankang (all of it), anlan (fictional), prefecture, province (copies of the "
            "fictional city).",
        ),
        start: str = typer.Option(
            "2025-01-01", "--start", help="First simulated day (with --days)."
        ),
        seed: int = typer.Option(7, "--seed", help="Random seed (same seed, same city)."),
        keep_running: bool = typer.Option(
            False, "--keep-running", help="Leave the platform running afterwards, detached."
        ),
        exit_after: bool = typer.Option(
            False,
            "--exit",
            help="Stop the platform right after the summary (for scripts); by default it "
            "keeps serving the dashboard until Ctrl-C.",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Run the whole platform on the embedded defaults: start it, simulate years of a city
        (default: five years of a sample of 安康市 Ankang), stream every event into the
        warehouse, run quality checks and dbt marts, and print a summary: business figures
        first, then the speech's figures and the pipeline's tables. Data stays in the data
        directory (default ./var)."""
        from simulation import PRESETS

        settings, new_admin = first_administrator(get_settings())
        began = time.perf_counter()
        if city not in PRESETS:
            raise ConfigError(
                f"Unknown city preset {city!r}", hint=f"Use one of {', '.join(PRESETS)}."
            )
        sample = PRESETS[city].population_sample
        readings_from: date | None = None
        if days is not None:
            first, span_days = start, days
        else:
            count = years or settings.dbt.baseline_years_back + 1
            if count < 1:
                raise ConfigError("--years must be at least 1.", hint="e.g. --years 5")
            first = f"{last_year - count + 1}-01-01"
            span_days = (date(last_year + 1, 1, 1) - date.fromisoformat(first)).days
            # Routine readings for the last month only (the cold-chain views look at recent
            # days); history keeps each long excursion's day of readings.
            readings_from = date(last_year, 12, 1)
        started_here = None
        if not platform_is_up(settings):
            started_here = _start_platform(settings, sample)
        elif settings.dbt.population_sample != sample:
            console.print(
                f"[yellow]The running platform's population sample is "
                f"{settings.dbt.population_sample}; the {city} city is a {sample} sample: rates "
                f"per 1,000 residents will be off (set BLOODTRACE_DBT__POPULATION_SAMPLE={sample})."
                "[/]",
                highlight=False,
            )
        if new_admin and not as_json:
            console.print(
                f"[bold]First administrator[/] (shown once; kept in {settings.admin_token_file},"
                f" which the CLI reads): {new_admin}",
                highlight=False,
            )
        try:
            before = api_call(settings, "GET", "/v1/status")["metrics"]
            sent = simulate_and_emit(
                days=span_days, start=first, city=city, seed=seed, readings_from=readings_from
            )
            # Events refused at the edge never reach the event topic: don't wait for them.
            expected = sent["emitted"] - sent["rejected"]
            status = _wait_for_pipeline(
                settings, before["accepted"] + before["duplicates"] + expected
            )
            jobs: dict[str, Any] = {}
            for job in ("quality", "dbt"):
                with console.status(f"running {job}…"):
                    try:
                        jobs[job] = api_call(settings, "POST", f"/v1/jobs/{job}", timeout=1800)
                    except BloodtraceError as exc:
                        jobs[job] = {"status": "failed", "error": exc.message}
            status = api_call(settings, "GET", "/v1/status")
            try:  # the speech's figures, from the marts the dbt job just built
                figures: dict[str, Any] | None = api_call(settings, "GET", "/v1/figures")
            except BloodtraceError as exc:
                figures = {"error": exc.message}
            try:  # the business figures of the latest year against the baseline year
                headline: dict[str, Any] | None = api_call(settings, "GET", "/v1/marts/headline")
            except BloodtraceError as exc:
                headline = {"error": exc.message}
        except BaseException:
            if started_here is not None and not keep_running:
                _stop_platform(started_here, settings)
            raise
        summary = _summary(settings, sent, status, jobs, time.perf_counter() - began)
        summary["speech_figures"] = figures
        summary["business"] = headline
        summary["city"] = {
            "preset": city,
            "population_sample": sample,
            "first_day": first,
            "days": span_days,
        }
        if new_admin:
            summary["first_administrator"] = {
                "token": new_admin,
                "kept_in": str(settings.admin_token_file),
            }
        if as_json:
            print_json(summary)
        else:
            _print_summary(summary)
        if started_here is None or keep_running:
            return
        if not exit_after:
            _serve_until_interrupted(started_here, settings)
        _stop_platform(started_here, settings)


def _serve_until_interrupted(proc: subprocess.Popen[bytes], settings: Settings) -> None:
    """Keep the platform serving the dashboard until Ctrl-C (or until it stops by itself)."""
    console.print(
        f"\n[bold]Dashboard:[/] {settings.api_base_url}/   API docs: {settings.api_base_url}/docs"
        "\nThe platform keeps serving; press Ctrl-C to stop it.",
        highlight=False,
    )
    try:
        proc.wait()
    except KeyboardInterrupt:
        console.print("stopping…")


def _stop_platform(proc: subprocess.Popen[bytes], settings: Settings) -> None:
    with console.status("stopping the platform…"):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        _stop_leftover_broker(settings)


def _summary(
    settings: Settings,
    sent: dict[str, Any],
    status: dict[str, Any],
    jobs: dict[str, Any],
    seconds: float,
) -> dict[str, Any]:
    metrics = status["metrics"]
    return {
        "events_emitted": sent["emitted"],
        "refused_at_the_edge": sent["rejected"],
        "accepted": metrics["accepted"],
        "duplicates_dropped": metrics["duplicates"],
        "rejected_by_reason": metrics["rejected"],
        "rows_per_table": status["tables"],
        "jobs": jobs,
        "seconds": round(seconds, 1),
        "data_dir": str(settings.data_path),
    }


def _pct(value: Any) -> str:
    return "—" if value is None else f"{value:+.1f} %"


def _business_lines(business: dict[str, Any], quality: dict[str, Any]) -> list[tuple[str, str]]:
    """The figures a person reads first: what the city collected, used, wasted and holds."""
    b = business
    base = b.get("baseline_year")
    vs = f" vs {base}" if base else ""
    alerts = b.get("open_alerts") or {}
    findings = quality.get("result", {}) if isinstance(quality, dict) else {}
    found = findings.get("findings_by_severity") if isinstance(findings, dict) else None
    if isinstance(found, dict):
        total = sum(v for v in found.values() if isinstance(v, int))
        by_severity = ", ".join(f"{k} {v}" for k, v in sorted(found.items()) if v)
        quality_line = f"{total}" + (f" ({by_severity})" if by_severity else "")
    else:
        quality_line = "—"
    return [
        (
            "donations",
            f"{b.get('donations', 0):,}   growth{vs} {_pct(b.get('donations_growth_pct'))}",
        ),
        (
            "units collected",
            f"{b.get('units_collected', 0):,.1f} units (1 unit = 200 ml whole blood)   "
            f"growth{vs} {_pct(b.get('collection_growth_pct'))}",
        ),
        (
            "clinical use",
            f"{b.get('clinical_use_units', 0):,.1f} units transfused   "
            f"growth{vs} {_pct(b.get('clinical_use_growth_pct'))}",
        ),
        (
            "wastage",
            f"{b.get('discarded_units', 0):,.1f} units discarded = "
            f"{b.get('wastage_rate_pct') if b.get('wastage_rate_pct') is not None else '—'} % "
            "of units collected",
        ),
        (
            "red-cell days of supply",
            f"{b.get('red_cell_days_of_supply', '—')} days "
            f"({b.get('red_cell_warning_level') or '—'}) on {b.get('red_cell_stock_date') or '—'}",
        ),
        (
            "open alerts",
            ", ".join(f"{k} {v:,}" for k, v in alerts.items()) or "none",
        ),
        ("quality findings", quality_line + "   (bloodtrace quality findings)"),
    ]


def _print_summary(summary: dict[str, Any]) -> None:
    city = summary.get("city") or {}
    sample = city.get("population_sample", 1)
    scale = (
        ""
        if sample == 1
        else f", a {sample:g} sample of its residents (rates per 1,000 are the city's)"
    )
    console.rule(f"Bloodtrace demo: {city.get('preset', '')}{scale}")
    business = summary.get("business")
    if isinstance(business, dict) and "error" not in business:
        print_table(
            f"{business.get('period')} — the city's year",
            ["figure", "value"],
            _business_lines(business, summary["jobs"].get("quality", {})),
        )
    elif isinstance(business, dict):
        console.print(f"business figures: {business.get('error')}", highlight=False)
    figures = summary.get("speech_figures")
    if isinstance(figures, dict) and "figures" in figures:
        from cli.figures import render

        render(figures)
    elif isinstance(figures, dict):
        console.print(f"speech figures: {figures.get('error')}", highlight=False)
    console.rule("the pipeline")
    console.print(
        f"events emitted {summary['events_emitted']:,}   accepted {summary['accepted']:,}   "
        f"duplicates dropped {summary['duplicates_dropped']:,}   "
        f"time {summary['seconds']} s",
        highlight=False,
    )
    rejected = summary["rejected_by_reason"]
    print_table(
        f"rejected: {sum(rejected.values())}",
        ["reason", "events"],
        sorted(rejected.items()) or [("(none)", 0)],
    )
    rows = {k: v for k, v in summary["rows_per_table"].items() if v}
    print_table("warehouse rows (records, not units)", ["table", "rows"], sorted(rows.items()))
    for name, job in summary["jobs"].items():
        result = job.get("result") if isinstance(job, dict) else None
        line = f"{name}: {job.get('status')} in {job.get('seconds', '?')} s"
        if job.get("error"):
            line += f" — {job['error']}"
        console.print(line, highlight=False)
        if isinstance(result, dict):
            for key, value in result.items():
                if isinstance(value, dict) and value and len(value) <= 20:
                    label = key.replace("_", " ")
                    print_table("", [f"{name}: {label}", ""], sorted(value.items(), key=str))
    console.print(f"data: {summary['data_dir']}", highlight=False)
    console.print(
        "next: `bloodtrace serve` then `bloodtrace status`; `bloodtrace din check G123498654321H`",
        highlight=False,
    )
