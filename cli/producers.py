"""`bloodtrace emit FILE` and `bloodtrace simulate`: sending events through the SDK."""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, get_args

import orjson
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from cli._output import console, print_json, print_table
from infra.errors import ConfigError
from infra.settings import get_settings
from models.events import PAYLOADS
from sdk.producer import Producer

ENVELOPE_FIELDS = {
    "event_id",
    "type",
    "schema_version",
    "occurred_at",
    "recorded_at",
    "facility_id",
}


def csv_row_to_event(row: dict[str, str]) -> dict[str, Any]:
    """A CSV export row: envelope columns as they are, every other column into the payload.

    Empty cells are left out; cells holding JSON arrays or objects are parsed.
    """
    event: dict[str, Any] = {}
    payload: dict[str, Any] = {}
    for column, cell in row.items():
        if column is None or cell is None or cell == "":
            continue
        name = column.strip().removeprefix("payload.")
        value: Any = cell
        if cell[:1] in "[{":
            try:
                value = orjson.loads(cell)
            except orjson.JSONDecodeError:
                value = cell
        if name in ENVELOPE_FIELDS:
            event[name] = int(value) if name == "schema_version" and value.isdigit() else value
        else:
            payload[name] = value
    model = PAYLOADS.get(str(event.get("type", "")))
    if model is not None:  # numbers and flags are strict in the contract: type the text cells
        for name, value in payload.items():
            field = model.model_fields.get(name)
            if field is not None and isinstance(value, str):
                payload[name] = _typed_cell(value, {field.annotation, *get_args(field.annotation)})
    event["payload"] = payload
    return event


def _typed_cell(cell: str, kinds: set[Any]) -> Any:
    """A CSV cell as the number or flag its field wants; left as text if it is not one."""
    text = cell.strip()
    if bool in kinds and text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        if kind in kinds:
            try:
                return kind(text)
            except ValueError:
                pass
    return cell


def read_records(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, Any] | bytes]]:
    """(bytes read so far, record) for each record of a JSON Lines or CSV file."""
    with path.open("rb") as handle:
        if fmt == "csv":
            text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
            for row in csv.DictReader(text):
                yield handle.tell(), csv_row_to_event(row)
            return
        for line in handle:
            stripped = line.strip()
            if stripped:
                yield handle.tell(), stripped


def _progress(*, bytes_per_second: bool = False) -> Progress:
    speed = [TransferSpeedColumn()] if bytes_per_second else []
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *speed,
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def register(app: typer.Typer) -> None:
    @app.command()
    def emit(
        file: Path = typer.Argument(..., help="A JSON Lines (.jsonl/.ndjson) or CSV export."),
        fmt: str = typer.Option(
            "auto", "--format", help="jsonl, csv, or auto (by the file's extension)."
        ),
        rejects: Path | None = typer.Option(
            None, "--rejects", help="Also write refused records with their reasons here (JSONL)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Import events from an existing system's export. Every record is validated at the
        edge: accepted ones go to the platform, refused ones are kept with their reason (in the
        warehouse's rejected_events, and in --rejects). Ends with the counts."""
        if not file.exists():
            raise ConfigError(f"No such file: {file}", hint="Give the path of a .jsonl or .csv.")
        kind = fmt if fmt != "auto" else ("csv" if file.suffix.lower() == ".csv" else "jsonl")
        if kind not in ("csv", "jsonl"):
            raise ConfigError(f"Unknown format {fmt!r}", hint="Use --format jsonl or csv.")
        settings = get_settings()
        size = file.stat().st_size
        reasons: Counter[str] = Counter()
        accepted = 0
        started = time.perf_counter()
        reject_out = rejects.open("wb") if rejects else None
        try:
            with (
                Producer(settings.sdk_settings("file")) as producer,
                _progress(bytes_per_second=True) as bar,
            ):
                producer.ensure_connected()
                task = bar.add_task(f"emit {file.name}", total=size)
                for index, (position, record) in enumerate(read_records(file, kind)):
                    outcome = producer.send(record, index)
                    if outcome.accepted:
                        accepted += 1
                    else:
                        reasons[outcome.reason or "unknown"] += 1
                        if reject_out is not None:
                            reject_out.write(orjson.dumps(outcome.to_dict()) + b"\n")
                    if index % 500 == 0:
                        bar.update(task, completed=position)
                bar.update(task, completed=size)
        finally:
            if reject_out is not None:
                reject_out.close()
        summary = {
            "file": str(file),
            "accepted": accepted,
            "rejected": sum(reasons.values()),
            "rejected_by_reason": dict(reasons),
            "seconds": round(time.perf_counter() - started, 2),
        }
        if as_json:
            print_json(summary)
        else:
            console.print(
                f"accepted {accepted}, rejected {summary['rejected']} in {summary['seconds']} s",
                highlight=False,
            )
            if reasons:
                print_table("rejected by reason", ["reason", "records"], reasons.most_common())
        if reasons and not accepted:
            raise typer.Exit(1)

    @app.command()
    def simulate(
        days: int = typer.Option(365, "--days", help="How many days to simulate."),
        start: str = typer.Option("2025-01-01", "--start", help="First day (YYYY-MM-DD)."),
        city: str = typer.Option(
            "small",
            "--city",
            help="City preset: small (a 1-in-4 sample of 安康市 Ankang), ankang, anlan "
            "(fictional), prefecture, province.",
        ),
        seed: int = typer.Option(7, "--seed", help="Same seed, same city and events."),
        out: Path | None = typer.Option(
            None, "--out", help="Write JSON Lines to this file instead of sending them."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
        calibration: bool = typer.Option(
            False,
            "--calibration",
            help="Emit nothing: simulate in memory and print each figure of the domain brief "
            "§5-6 beside its published value and tolerance (use --city ankang: a sample's "
            "rare events are too few).",
        ),
    ) -> None:
        """Simulate a city's blood service and emit its events through the SDK."""
        if calibration:
            _print_calibration(days=days, start=start, city=city, seed=seed, as_json=as_json)
            return
        summary = simulate_and_emit(days=days, start=start, city=city, seed=seed, out=out)
        if as_json:
            print_json(summary)
        else:
            console.print(
                f"emitted {summary['emitted']} events ({summary['rejected']} refused) "
                f"for {days} days in {summary['seconds']} s",
                highlight=False,
            )


def _city_and_start(city: str, start: str) -> date:
    """A known city preset and the --start date, or a ConfigError saying which is wrong."""
    from simulation import PRESETS

    if city not in PRESETS:
        raise ConfigError(f"Unknown city preset {city!r}", hint=f"Use one of {', '.join(PRESETS)}.")
    try:
        return date.fromisoformat(start)
    except ValueError as exc:
        raise ConfigError(f"--start {start!r} is not a date", hint="Use YYYY-MM-DD.") from exc


def simulate_and_emit(
    *,
    days: int,
    start: str,
    city: str,
    seed: int,
    out: Path | None = None,
    readings_from: date | None = None,
) -> dict[str, Any]:
    from simulation import PRESETS, simulate

    first_day = _city_and_start(city, start)
    settings = get_settings()
    key = settings.pseudonym_secret()
    cfg = PRESETS[city]
    if readings_from is not None:  # history years: only the readings of an excursion's day
        cfg = replace(cfg, readings_from=readings_from)
    events = simulate(cfg, start=first_day, days=days, seed=seed, pseudonym_key=key)
    started = time.perf_counter()
    emitted = refused = 0
    with _progress() as bar:
        task = bar.add_task(f"simulate {days} days", total=days)
        last_day = ""
        if out is not None:
            with out.open("wb") as handle:
                for event in events:
                    handle.write(orjson.dumps(event) + b"\n")
                    emitted += 1
                    day = str(event.get("occurred_at", ""))[:10]
                    if day != last_day:
                        last_day = day
                        done = (date.fromisoformat(day) - first_day).days
                        bar.update(task, completed=max(0, done))
        else:
            with Producer(settings.sdk_settings("simulator")) as producer:
                producer.ensure_connected()
                for event in events:
                    outcome = producer.send(event, emitted)
                    emitted += 1
                    refused += 0 if outcome.accepted else 1
                    day = str(event.get("occurred_at", ""))[:10]
                    if day != last_day:
                        last_day = day
                        done = (date.fromisoformat(day) - first_day).days
                        bar.update(task, completed=max(0, done))
        bar.update(task, completed=days)
    return {
        "emitted": emitted,
        "rejected": refused,
        "days": days,
        "seconds": round(time.perf_counter() - started, 2),
    }


def _print_calibration(*, days: int, start: str, city: str, seed: int, as_json: bool) -> None:
    """The simulator against the published figures (simulation.calibration.TARGETS)."""
    from simulation import PRESETS, simulate
    from simulation.calibration import check, fmt, measure, measure_windows
    from simulation.reference import load_city

    first_day = _city_and_start(city, start)
    cfg = PRESETS[city]
    seeded = load_city(cfg.seeds_dir)
    residents = (
        sum(c.population for c in seeded.counties)
        * cfg.county_replicas
        * cfg.stations
        * cfg.population_sample
    )
    with console.status(f"simulating {days} days of {city}…"):
        key = b"calibration"
        events = simulate(cfg, start=first_day, days=days, seed=seed, pseudonym_key=key)
        measured = measure(events, residents=residents)
        # Figures of more than a year (the repeat-donation rate): their own, longer run.
        measured |= measure_windows(cfg, start=first_day, seed=seed, pseudonym_key=key)
        checks = check(measured)
    rows = []
    for c in checks:
        f = c.target.figure
        verdict = {True: "ok", False: "MISS", None: "not asserted"}[c.passed]
        rows.append(
            {
                "figure": f,
                "simulated": fmt(c.measured.value, f),
                "published": fmt(c.target.published, f),
                "allowed": f"{fmt(c.allowed[0], f)} – {fmt(c.allowed[1], f)}",
                "section": c.target.section,
                "source": c.target.source,
                "verdict": verdict if c.passed is not None else f"{verdict}: {c.target.why_not}",
            }
        )
    if as_json:
        print_json({"city": city, "days": days, "seed": seed, "figures": rows})
    else:
        print_table(
            f"{city}: {days} days from {start} against the domain brief §5-6",
            ["figure", "simulated", "published", "allowed", "brief", "verdict"],
            [
                (
                    r["figure"],
                    r["simulated"],
                    r["published"],
                    r["allowed"],
                    r["section"],
                    r["verdict"].split(":")[0],
                )
                for r in rows
            ],
        )
        for c in checks:
            if c.passed is None:
                console.print(f"{c.target.figure}: {c.target.why_not}", highlight=False)
    if any(c.passed is False for c in checks):
        raise typer.Exit(1)
