"""`bloodtrace forecast`: supply early warning; `bloodtrace recruit --group O+`: the
emergency call list. Through the running platform's API when it is up, else on the warehouse
here (alerts then go straight to the alerts table)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import typer

from cli._output import console, friendly, print_answer
from cli.inventory import _abbr, _level, fetch, print_table
from infra.settings import get_settings
from models.events import ComponentType


def render_forecast(data: dict[str, Any]) -> None:
    history = data["history"]
    console.print(
        f"Forecast {data['run_id']} on {history['days']} days of history "
        f"({history['from']} – {history['to']}), {data['horizon_days']} days ahead; "
        f"read {data['read_seconds']} s, forecast {data['forecast_seconds']} s."
    )
    rows = []
    for p in data["projections"]:
        c = p["crossing"]
        last = p["days"][-1] if p["days"] else None
        rows.append(
            (
                p["abo_rh"],
                _abbr(p["component_type"]),
                p["stock_now"],
                "—" if p["days_of_supply_now"] is None else p["days_of_supply_now"],
                _level(p["level_now"]),
                "—" if last is None or last["days_of_supply"] is None else last["days_of_supply"],
                f"{_level(c['level'])} on {c['day']} (+{c['ahead']} d, {c['probability']:.0%})"
                if c
                else "",
            )
        )
    print_table(
        "Projected days of supply",
        ["group", "comp.", "stock", "days now", "level now", "days at horizon", "crossing"],
        rows,
    )


def render_calls(data: dict[str, Any]) -> None:
    console.print(
        f"{data['abo_rh']} on {data['call_day']}: gap {data['gap_units']} units; "
        f"{data['eligible']} eligible ({data['repeat_eligible']} repeat); call {data['needed']} "
        f"at a turn-up rate of {data['turn_up_rate']:.0%}."
    )
    for site in data["sites"]:
        print_table(
            f"site {site['site_id'] or '(none)'}",
            ["donor (pseudonym)", "donations", "last donation"],
            [(d["donor_id"], d["donations"], d["last_donation"]) for d in site["donors"]],
        )


def register(app: typer.Typer) -> None:
    @app.command("forecast")
    @friendly
    def forecast_command(
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Forecast collection and use, project days of supply, store it, alert crossings."""
        from streams.supply import run_forecast

        settings = get_settings()
        data = fetch(
            settings,
            "GET",
            "/v1/supply/forecast",
            {"refresh": "true"},
            lambda client: run_forecast(client, settings),
        )
        print_answer(data, as_json, render_forecast)

    @app.command("recruit")
    @friendly
    def recruit_command(
        group: str = typer.Option(..., "--group", help="ABO/RhD group, e.g. O+."),
        component: ComponentType = typer.Option(ComponentType.red_cells, "--component"),
        limit: int = typer.Option(None, "--limit", min=1, help="Donors listed (default: needed)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """The emergency call list of a group: eligible donors (pseudonyms), ranked, by site."""
        from streams.supply import recruit

        settings = get_settings()
        data = fetch(
            settings,
            "GET",
            f"/v1/supply/recruit?group={quote(group)}&component={component.value}",
            {"limit": limit},
            lambda client: recruit(client, settings, group, component=str(component.value)).to_json(
                limit
            ),
        )
        print_answer(data, as_json, render_calls)
