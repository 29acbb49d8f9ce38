"""`bloodtrace inventory`: stock and days of supply; `expiring`, `levels`, `excursions`,
`rebuild`.

Through the running platform's HTTP API when it is up (embedded chDB has one owner), else
straight on the warehouse; the same service functions (streams/processors/*_store.py) answer
on both paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import typer

from cli import _output
from cli._output import console, friendly, parse_time, print_answer
from cli._platform import platform_or_warehouse
from infra.errors import ConfigError
from infra.settings import Settings, get_settings
from infra.warehouse import WarehouseClient
from models.events import ComponentType

_LEVEL_STYLE = {
    "normal": "green",
    "tight": "yellow",
    "short": "dark_orange",
    "critical": "bold red",
}


def fetch(
    settings: Settings,
    method: str,
    path: str,
    params: dict[str, Any],
    service: Callable[[WarehouseClient], Any],
) -> Any:
    """Ask the platform's API if it runs, else answer from the warehouse here."""
    params = {k: v for k, v in params.items() if v is not None}
    return platform_or_warehouse(settings, path, service, method=method, params=params, timeout=600)


def _level(level: str, zh: str = "") -> str:
    text = f"{level} {zh}".strip()
    style = _LEVEL_STYLE.get(level, "")
    return f"[{style}]{text}[/]" if style else text


def _days(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _time(text: str | None) -> str:
    return (text or "").replace("T", " ")[:16]


def _short_time(text: str | None) -> str:
    """MM-DD HH:MM: enough for what expires within days."""
    return _time(text)[5:]


# Blood-bank abbreviations keep the tables within a terminal's width.
ABBREVIATIONS = {
    "whole_blood": "WB",
    "red_cells": "RBC",
    "washed_red_cells": "WRBC",
    "platelets": "PLT",
    "plasma": "FFP",
    "cryoprecipitate": "CRYO",
}
LEGEND = (
    "WB whole blood 全血 · RBC red cells 悬浮红细胞 · WRBC washed red cells 洗涤红细胞 · "
    "PLT platelets 血小板 · FFP plasma 血浆 · CRYO cryoprecipitate 冷沉淀"
)
_STATUS = {
    "open": "open",
    "confirmed": "[bold red]CONFIRMED[/]",
    "ended_within_tolerance": "within tol.",
    "ended_confirmed": "[red]confirmed[/], ended",
}


def _abbr(component: str) -> str:
    return ABBREVIATIONS.get(component, component)


# Columns that must stay whole (a DIN cut short is no DIN); others may wrap.
_MIN_WIDTH = {"DIN": 13, "when (UTC)": 16, "started (UTC)": 16, "excursion (UTC)": 16}


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    _output.print_table(title, columns, rows, whole=_MIN_WIDTH)


# ---- rendering -------------------------------------------------------------------------------
def render_stock(data: dict[str, Any]) -> None:
    if data["as_of"] is None:
        console.print("No events in the warehouse yet.")
        return
    console.print(
        f"as of {_time(data['as_of'])} UTC, mean daily issue over {data['window_days']} days",
        highlight=False,
    )
    print_table(
        "city 全市 (out = issued to wards)",
        ["group", "comp.", "avail.", "out/day", "days", "level"],
        [
            (
                r["abo_rh"],
                _abbr(r["component_type"]),
                r["available"],
                f"{r['mean_daily_issue']:.2f}",
                _days(r["days_of_supply"]),
                _level(r["level"], r["level_zh"]),
            )
            for r in data["city"]
        ],
    )
    print_table(
        "facilities (out = issued and shipped)",
        ["facility", "group", "comp.", "avail.", "quar.", "exp.", "out/d", "days", "level"],
        [
            (
                r["facility_id"],
                r["abo_rh"],
                _abbr(r["component_type"]),
                r["available"],
                r["quarantined"],
                r["expired_on_shelf"],
                f"{r['mean_daily_issue']:.2f}",
                _days(r["days_of_supply"]),
                _level(r["level"]),
            )
            for r in data["facilities"]
        ],
    )
    console.print(
        f"[dim]{LEGEND}; quar. quarantined; exp. expired on the shelf[/]", highlight=False
    )


def render_expiring(data: dict[str, Any]) -> None:
    rows = []
    for u in data["units"]:
        s = u["suggestion"]
        rows.append(
            (
                u["facility_id"],
                u["din"],
                _abbr(u["component_type"]),
                u["abo_rh"],
                _short_time(u["expires_at"]),
                f"{u['hours_left']:.0f}",
                f"{s['move_to']} {s['level']}" if s else "",
            )
        )
    print_table(
        f"expiring within {data['horizon_hours']:g} h of {_time(data['as_of'])} UTC",
        ["facility", "DIN", "comp.", "group", "expires", "h left", "move to"],
        rows,
    )
    if rows:
        console.print(
            f"[dim]move to: the facility of the same city most short of that group. {LEGEND}[/]",
            highlight=False,
        )


def render_levels(data: dict[str, Any]) -> None:
    print_table(
        "days-of-supply levels: changes (a → b) and daily readings",
        ["when (UTC)", "facility", "group", "comp.", "avail.", "days", "level"],
        [
            (
                _time(r["evaluated_at"]),
                r["facility_id"],
                r["abo_rh"],
                _abbr(r["component_type"]),
                r["available"],
                _days(r["days_of_supply"]),
                f"{r['previous_level']} → {_level(r['level'])}"
                if r["kind"] == "change"
                else r["level"],
            )
            for r in data["levels"]
        ],
    )


def render_excursions(data: dict[str, Any]) -> None:
    print_table(
        "cold-chain excursions",
        ["started (UTC)", "equipment", "outside", "min", "peak °C", "status", "units"],
        [
            (
                _time(e["started_at"]),
                e["equipment_id"],
                e["condition_text"],
                f"{e['duration_minutes']:.0f}",
                f"{e['peak_c']:g}",
                _STATUS.get(e["status"], e["status"]),
                len(e["units"]),
            )
            for e in data["excursions"]
        ],
    )
    flagged = [(e, u) for e in data["excursions"] for u in e["units"]]
    if flagged:
        print_table(
            "quarantine recommended: in the equipment during a confirmed excursion",
            ["equipment", "excursion (UTC)", "DIN", "product", "comp.", "in since"],
            [
                (
                    e["equipment_id"],
                    _time(e["started_at"]),
                    u["din"],
                    u["product_code"],
                    _abbr(u["component_type"]),
                    _short_time(u["exposed_from"]),
                )
                for e, u in flagged
            ],
        )
    if data["returns"]:
        print_table(
            "discard recommended: returned after too long out of refrigeration",
            ["returned (UTC)", "facility", "DIN", "product", "minutes out"],
            [
                (
                    _time(r["returned_at"]),
                    r["facility_id"],
                    r["din"],
                    r["product_code"],
                    f"{r['minutes_out']:.0f} (limit {r['limit_minutes']:.0f})",
                )
                for r in data["returns"]
            ],
        )


COMPONENT = typer.Option(None, "--component", "-c", help="One component type.")
GROUP = typer.Option(None, "--group", "-g", help="ABO/RhD group (O+, A-, …) or ISBT code.")
FACILITY = typer.Option(None, "--facility", "-f", help="One facility.")
AS_OF = typer.Option(None, "--as-of", help="Event time to evaluate at (default: latest event).")
JSON = typer.Option(False, "--json", help="Print JSON.")


def register(app: typer.Typer) -> None:
    inventory = typer.Typer(
        help="Stock and days of supply per facility × ABO/RhD group × component, derived from "
        "unit events; expiring units; level history; cold-chain excursions.",
        no_args_is_help=False,
    )
    app.add_typer(inventory, name="inventory")

    @inventory.callback(invoke_without_command=True)
    @friendly
    def stock(
        ctx: typer.Context,
        facility: str | None = FACILITY,
        group: str | None = GROUP,
        component: ComponentType | None = COMPONENT,
        window_days: int | None = typer.Option(
            None, "--window-days", "-w", min=1, max=90, help="Demand window (default 7)."
        ),
        as_of: str | None = AS_OF,
        as_json: bool = JSON,
    ) -> None:
        """Stock and days of supply with its level, per facility and for the city."""
        if ctx.invoked_subcommand:
            return
        from streams.processors.inventory_store import inventory_report

        settings = get_settings()
        moment = parse_time(as_of)
        ctype = component.value if component else None
        data = fetch(
            settings,
            "GET",
            "/v1/inventory",
            {
                "facility": facility,
                "group": group,
                "component": ctype,
                "window_days": window_days,
                "as_of": moment.isoformat() if moment else None,
            },
            lambda client: inventory_report(
                client,
                settings,
                facility=facility,
                group=group,
                component=ctype,
                window_days=window_days,
                as_of=moment,
            ),
        )
        print_answer(data, as_json, render_stock)

    @inventory.command()
    @friendly
    def expiring(
        facility: str | None = FACILITY,
        hours: float | None = typer.Option(
            None, "--hours", min=0.1, help="Horizon in hours (default 72)."
        ),
        as_of: str | None = AS_OF,
        as_json: bool = JSON,
    ) -> None:
        """Available units expiring soon, with where to move them in the same city."""
        from streams.processors.inventory_store import expiring_report

        settings = get_settings()
        moment = parse_time(as_of)
        data = fetch(
            settings,
            "GET",
            "/v1/inventory/expiring",
            {"facility": facility, "hours": hours, "as_of": moment.isoformat() if moment else None},
            lambda client: expiring_report(
                client, settings, facility=facility, hours=hours, as_of=moment
            ),
        )
        print_answer(data, as_json, render_expiring)

    @inventory.command()
    @friendly
    def levels(
        facility: str | None = typer.Option(None, "--facility", "-f", help="A facility, or *."),
        group: str | None = GROUP,
        component: ComponentType | None = COMPONENT,
        since: str | None = typer.Option(None, "--since", help="From this event time on."),
        as_json: bool = JSON,
    ) -> None:
        """The history of days-of-supply levels (changes and daily rows)."""
        from streams.processors.inventory_store import levels_report

        settings = get_settings()
        moment = parse_time(since)
        ctype = component.value if component else None
        data = fetch(
            settings,
            "GET",
            "/v1/inventory/levels",
            {
                "facility": facility,
                "group": group,
                "component": ctype,
                "since": moment.isoformat() if moment else None,
            },
            lambda client: levels_report(
                client, facility=facility, group=group, component=ctype, since=moment
            ),
        )
        print_answer(data, as_json, render_levels)

    @inventory.command()
    @friendly
    def excursions(
        facility: str | None = FACILITY,
        equipment: str | None = typer.Option(None, "--equipment", "-e", help="One equipment."),
        status: str | None = typer.Option(
            None,
            "--status",
            help="open, confirmed, ended_within_tolerance or ended_confirmed.",
        ),
        as_json: bool = JSON,
    ) -> None:
        """Cold-chain excursions and the units they flagged; units returned too warm."""
        from streams.processors.coldchain_store import STATUSES, excursions_report

        if status is not None and status not in STATUSES:
            raise ConfigError(
                f"Unknown status {status!r}", hint=f"Use one of {', '.join(STATUSES)}."
            )
        settings = get_settings()
        data = fetch(
            settings,
            "GET",
            "/v1/coldchain/excursions",
            {"facility": facility, "equipment": equipment, "status": status},
            lambda client: excursions_report(
                client, facility=facility, equipment=equipment, status=status
            ),
        )
        print_answer(data, as_json, render_excursions)

    @inventory.command()
    @friendly
    def rebuild(as_json: bool = JSON) -> None:
        """Fold every donation in the warehouse again (after a bulk load that bypassed the
        stream, e.g. a seed or an import straight into the warehouse)."""
        from streams.processors.inventory import rebuild as rebuild_all

        settings = get_settings()
        data = fetch(
            settings,
            "POST",
            "/v1/inventory/rebuild",
            {},
            lambda client: {"donations": rebuild_all(client, settings)},
        )
        print_answer(data, as_json, lambda d: console.print(f"refolded {d['donations']} donations"))
