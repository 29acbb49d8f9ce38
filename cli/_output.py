"""Shared terminal output: errors as messages (never tracebacks), tables, JSON."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

import orjson
import typer
from rich.console import Console
from rich.table import Table

from infra.errors import BloodtraceError, ConfigError

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def report(error: BloodtraceError) -> int:
    """Print an error as a message and a hint; returns the exit code to use."""
    err_console.print(f"[bold red]error:[/] {error.message}", highlight=False)
    if error.hint:
        err_console.print(f"[yellow]hint:[/] {error.hint}", highlight=False)
    return error.exit_code


def fail(error: BloodtraceError) -> NoReturn:
    """Inside a command: print the error and leave with its exit code."""
    raise typer.Exit(report(error))


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


def parse_time(text: str | None, option: str = "") -> datetime | None:
    """An ISO 8601 date or time from the command line (UTC when it has no offset)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        message = f"Not a date or time: {text!r}"
        if option:
            message = f"{option} {text!r} is not a date or time."
        raise ConfigError(message, hint="Use ISO 8601, e.g. 2026-03-01T08:00Z.") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
