"""Shared terminal output: errors as messages (never tracebacks), tables, JSON."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
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


def friendly(command: F) -> F:
    """A BloodtraceError becomes its message and exit code inside the command, where typer
    handles the exit cleanly (no traceback). Every command that can fail wears it."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except BloodtraceError as exc:
            fail(exc)

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


def print_answer(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    """A command's answer: JSON with --json, else its human rendering."""
    if as_json:
        print_json(data)
    else:
        render(data)


def print_table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    whole: Mapping[str, int] | None = None,
    fold: bool = False,
) -> None:
    """A titled table; ``whole`` gives the columns that must not wrap their minimum width (a
    DIN cut short is no DIN); ``fold`` wraps long cells instead of cutting them."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        width = (whole or {}).get(column)
        table.add_column(
            column,
            min_width=width,
            no_wrap=width is not None,
            overflow="fold" if fold else "ellipsis",
        )
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
