"""`bloodtrace inventory`: stock and days of supply; `expiring`, `levels`, `excursions`,
`rebuild`.

Through the running platform's HTTP API when it is up (embedded chDB has one owner), else
straight on the warehouse; the same service functions (streams/processors/*_store.py) answer
on both paths.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import typer
from clickhouse_connect.driver.client import Client

from cli._output import console, fail, print_json, print_table
from cli._platform import api_call, platform_is_up
from infra.errors import BloodtraceError, ConfigError
from infra.settings import Settings, get_settings
from models.events import ComponentType

F = TypeVar("F", bound=Callable[..., Any])
_LEVEL_STYLE = {
    "normal": "green",
    "tight": "yellow",
    "short": "dark_orange",
    "critical": "bold red",
}


def friendly(command: F) -> F:
    """A BloodtraceError becomes its message and exit code (a clean exit, no traceback)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except BloodtraceError as exc:
            fail(exc)

    return wrapper  # type: ignore[return-value]


def fetch(
    settings: Settings,
    method: str,
    path: str,
    params: dict[str, Any],
    service: Callable[[Client], Any],
) -> Any:
    """Ask the platform's API if it runs, else answer from the warehouse here."""
    params = {k: v for k, v in params.items() if v is not None}
    if platform_is_up(settings):
        return api_call(settings, method, path, params=params, timeout=600)
    from infra.warehouse import connect, migrate

    client = connect(settings)
    migrate(client)
    return service(client)


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(
            f"Not a date or time: {text!r}", hint="Use ISO 8601, e.g. 2026-03-01T08:00Z."
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _level(level: str, zh: str) -> str:
    style = _LEVEL_STYLE.get(level, "")
    return f"[{style}]{level} {zh}[/]" if style else level


def _days(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _time(text: str | None) -> str:
    return (text or "").replace("T", " ")[:16]


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
        if as_json:
            print_json(data)
            return
        if data["as_of"] is None:
            console.print("No events in the warehouse yet.")
            return
        console.print(
            f"as of {_time(data['as_of'])} UTC, mean daily issue over {data['window_days']} days",
            highlight=False,
        )
        columns = ["group", "component", "available", "out/day", "days", "level"]
        print_table(
            "city (issued to wards) 全市",
            columns,
            [
                (
                    r["abo_rh"],
                    r["component_type"],
                    r["available"],
                    f"{r['mean_daily_issue']:.2f}",
                    _days(r["days_of_supply"]),
                    _level(r["level"], r["level_zh"]),
                )
                for r in data["city"]
            ],
        )
        print_table(
            "facilities (issued and shipped out)",
            ["facility", *columns[:3], "quarantined", "expired", *columns[3:]],
            [
                (
                    r["facility_id"],
                    r["abo_rh"],
                    r["component_type"],
                    r["available"],
                    r["quarantined"],
                    r["expired_on_shelf"],
                    f"{r['mean_daily_issue']:.2f}",
                    _days(r["days_of_supply"]),
                    _level(r["level"], r["level_zh"]),
                )
                for r in data["facilities"]
            ],
        )

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
        if as_json:
            print_json(data)
            return
        rows = []
        for u in data["units"]:
            s = u["suggestion"]
            move = f"→ {s['move_to']} ({s['level']}, {_days(s['days_of_supply'])} d)" if s else ""
            rows.append(
                (
                    u["facility_id"],
                    u["din"],
                    u["product_code"],
                    u["component_type"],
                    u["abo_rh"],
                    _time(u["expires_at"]),
                    f"{u['hours_left']:.0f}",
                    move,
                )
            )
        print_table(
            f"expiring within {data['horizon_hours']:g} h of {_time(data['as_of'])} UTC",
            ["facility", "DIN", "product", "component", "group", "expires", "h left", "suggest"],
            rows,
        )

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
        if as_json:
            print_json(data)
            return
        print_table(
            "days-of-supply levels",
            ["when (UTC)", "kind", "facility", "group", "component", "avail", "days", "level"],
            [
                (
                    _time(r["evaluated_at"]),
                    r["kind"],
                    r["facility_id"],
                    r["abo_rh"],
                    r["component_type"],
                    r["available"],
                    _days(r["days_of_supply"]),
                    f"{r['previous_level']} → {r['level']}"
                    if r["kind"] == "change"
                    else r["level"],
                )
                for r in data["levels"]
            ],
        )

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
        if as_json:
            print_json(data)
            return
        print_table(
            "cold-chain excursions",
            [
                "started (UTC)",
                "facility",
                "equipment",
                "range",
                "min",
                "peak °C",
                "status",
                "units",
            ],
            [
                (
                    _time(e["started_at"]),
                    e["facility_id"],
                    e["equipment_id"],
                    e["condition_text"],
                    f"{e['duration_minutes']:.0f}",
                    f"{e['peak_c']:g}",
                    e["status"],
                    ", ".join(u["din"] for u in e["units"]) or "—",
                )
                for e in data["excursions"]
            ],
        )
        if data["returns"]:
            print_table(
                "returned after too long out of refrigeration: discard",
                ["returned (UTC)", "facility", "DIN", "product", "minutes out"],
                [
                    (
                        _time(r["returned_at"]),
                        r["facility_id"],
                        r["din"],
                        r["product_code"],
                        f"{r['minutes_out']:.0f}",
                    )
                    for r in data["returns"]
                ],
            )

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
        if as_json:
            print_json(data)
        else:
            console.print(f"refolded {data['donations']} donations")
