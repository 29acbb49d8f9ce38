"""`bloodtrace figures --year Y [--baseline B] [--json]`: the figures the leadership speech
leaves blank, in Chinese and English, from the dbt mart speech_figures_by_year.

Through the running platform's HTTP API (GET /v1/figures) when it is up, else straight on the
warehouse; the same service function (infra/figures.py) answers on both paths.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from cli._output import console, friendly, print_answer
from cli.inventory import fetch
from infra.settings import get_settings


def _value(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    return f"{value:,.2f} %" if unit == "%" else f"{value:,.1f}"


def render(data: dict[str, Any]) -> None:
    year, base = data["year"], data["baseline_year"]
    table = Table(
        title=f"讲话稿数字 / speech figures: {year} (基准年 baseline {base})",
        title_justify="left",
    )
    for column in ("指标 / figure", str(year), str(base), "note"):
        table.add_column(column)
    for row in data["figures"]:
        table.add_row(
            f"{row['label_zh']}\n[dim]{row['label_en']}[/]",
            _value(row["value"], row["value_unit"]),
            _value(row["then_value"], row["value_unit"]) if row["then_value"] is not None else "",
            row["note"] or "",
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    @app.command("figures")
    @friendly
    def figures(
        year: int | None = typer.Option(
            None, "--year", "-y", help="The year (default: the latest with donations)."
        ),
        baseline: int | None = typer.Option(
            None, "--baseline", "-b", help="The baseline year (default: the year less 4)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """The speech's figures for a year against a baseline year: clinical use and
        collection growth, students' and employees' shares then and now, eligible 18-55
        residents who ever donated, units discarded for storage and for failed tests."""
        from infra.figures import figures_report

        settings = get_settings()
        data = fetch(
            settings,
            "GET",
            "/v1/figures",
            {"year": year, "baseline": baseline},
            lambda client: figures_report(client, settings, year=year, baseline=baseline),
        )
        print_answer(data, as_json, render)
