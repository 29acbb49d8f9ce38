"""Shared terminal output: errors as messages (never tracebacks), tables, JSON."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn, TypeVar

import orjson
import typer
from rich.console import Console
from rich.table import Table

from infra.errors import BloodtraceError

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
