"""`bloodtrace trace DIN | --recipient ID | --donor ID`: vein-to-vein trace in the terminal.

Through the running platform's HTTP API when it is up (embedded chDB has one owner), else
straight on the warehouse; the same service function (streams/trace.py) answers on both paths
and every lookup is audited. National ID numbers are pseudonymised here, before anything
leaves this process.
"""

from __future__ import annotations

import functools
import getpass
import socket
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import typer
from rich.table import Table

from cli._output import console, fail, print_json
from cli._platform import api_call, platform_is_up
from infra.errors import BloodtraceError
from infra.settings import Settings, get_settings
from infra.warehouse import WarehouseClient
from streams.trace import (
    Requester,
    audited,
    donor_trace,
    person_id,
    recipient_trace,
    unit_code,
    unit_trace,
)

_STATUS_STYLE = {
    "transfused": "green",
    "discarded": "red",
    "unsafe": "bold red",
    "expired": "yellow",
    "quarantined": "yellow",
}


F = TypeVar("F", bound=Callable[..., Any])


def friendly(command: F) -> F:
    """A BloodtraceError becomes its message and exit code inside the command (a clean exit)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except BloodtraceError as exc:
            fail(exc)

    return wrapper  # type: ignore[return-value]


def cli_requester() -> Requester:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Requester(user, "cli", f"{user}@{socket.gethostname()}")


def fetch(
    settings: Settings,
    path: str,
    action: str,
    subject: str,
    service: Callable[[WarehouseClient], Any],
) -> Any:
    """Ask the platform's API if it runs, else answer from the warehouse here; both audited."""
    who = cli_requester()
    if platform_is_up(settings):
        headers = {"X-Bloodtrace-Client": f"cli {who.client}"}  # who: the token's identity
        return api_call(settings, "GET", path, headers=headers)
    from infra.warehouse import connect, migrate

    client = connect(settings)
    migrate(client)
    return audited(client, who, action, subject, lambda: service(client))


def _status(text: str) -> str:
    style = _STATUS_STYLE.get(text)
    return f"[{style}]{text}[/]" if style else text


def _time(text: str | None) -> str:
    return (text or "").replace("T", " ").replace("Z", "")[:16]


def render_unit(trace: dict[str, Any], *, title: str | None = None) -> None:
    console.print(
        f"[bold]{title or 'Unit'} {trace['din_with_check']}[/]  donor {trace['donor_id']}  "
        f"{trace['abo_rh']}  {trace['volume_ml']} ml {trace['donation_kind'].replace('_', ' ')}  "
        f"collected {_time(trace['collected_at'])} at {trace['collected_by']}",
        highlight=False,
    )
    reactive = ", ".join(trace["reactive_markers"])
    console.print(
        f"screening {trace['screening']}{' (' + reactive + ')' if reactive else ''}, "
        f"released {_time(trace['released_at']) or 'never'}, status {_status(trace['status'])}",
        highlight=False,
    )
    components = Table(title="components", title_justify="left")
    for column in ("product", "type", "ml", "group", "expires", "status", "held by", "recipient"):
        components.add_column(column)
    for c in trace["components"]:
        holder = c["holder_facility"] + (" (in transit)" if c["in_transit"] else "")
        components.add_row(
            c["product_code"] or "(donation)",
            c["component_type"],
            str(c["volume_ml"]),
            c["abo_rh"],
            _time(c["expires_at"]),
            _status(c["status"]),
            holder,
            c["recipient_id"],
        )
    console.print(components)
    steps = Table(title="chain, in time order", title_justify="left")
    for column in ("when (UTC)", "step", "where", "product", "what happened"):
        steps.add_column(column, overflow="fold")
    for s in trace["steps"]:
        summary = s["summary"]
        if s["step"] in ("storage.excursion", "recall.notice") or "REACTIVE" in summary:
            summary = f"[bold red]{summary}[/]"
        steps.add_row(
            _time(s["at"]),
            f"{s['step']} {s['label_zh']}",
            s["facility_id"],
            s["product_code"],
            summary,
        )
    console.print(steps)


def render_recipient(data: dict[str, Any]) -> None:
    console.print(
        f"[bold]Recipient {data['recipient_id']}[/]: blood from {len(data['donors'])} donor(s)",
        highlight=False,
    )
    table = Table(title="received", title_justify="left")
    for column in (
        "when (UTC)",
        "DIN",
        "product",
        "type",
        "group",
        "how",
        "where",
        "donor",
        "collected",
    ):
        table.add_column(column)
    for r in data["received"]:
        table.add_row(
            _time(r["at"]),
            r["din"],
            r["product_code"],
            r["component_type"],
            r["abo_rh"],
            r["role"],
            r["facility_id"],
            r["donor_id"],
            f"{_time(r['collected_at'])} {r['collected_by']}",
        )
    console.print(table)
    for unit in data["units"]:
        render_unit(unit)


def render_donor(data: dict[str, Any]) -> None:
    console.print(
        f"[bold]Donor {data['donor_id']}[/]: {len(data['donations'])} donation(s), "
        f"{len(data['recipients'])} recipient(s)",
        highlight=False,
    )
    table = Table(title="donations and where each component went", title_justify="left")
    for column in (
        "collected",
        "DIN",
        "kind",
        "screening",
        "component",
        "status",
        "held by",
        "recipient",
    ):
        table.add_column(column)
    for d in data["donations"]:
        for i, c in enumerate(d["components"]):
            first = i == 0
            table.add_row(
                f"{_time(d['collected_at'])} {d['collected_by']}" if first else "",
                d["din"] if first else "",
                d["donation_kind"].replace("_", " ") if first else "",
                d["screening"] if first else "",
                f"{c['product_code'] or '(donation)'} {c['component_type']}",
                _status(c["status"]),
                c["holder_facility"],
                c["recipient_id"],
            )
    console.print(table)
    for lb in data["lookbacks"]:
        console.print(
            f"lookback {lb['lookback_id']} opened {_time(lb['opened_at'])} "
            f"on donation {lb['index_din']}",
            highlight=False,
        )


def register(app: typer.Typer) -> None:
    @app.command()
    @friendly
    def trace(
        din: str = typer.Argument(
            None, help="A DIN, with or without its check character: the unit's whole chain."
        ),
        recipient: str = typer.Option(
            None,
            "--recipient",
            "-r",
            help="Backward: a recipient's ps_ pseudonym or national ID number.",
        ),
        donor: str = typer.Option(
            None, "--donor", "-d", help="Forward: a donor's ps_ pseudonym or national ID number."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Trace a unit from vein to vein, a recipient back to donors, or a donor forward to
        recipients. Unknown identifiers exit 1 with a message. Every lookup is audited."""
        given = [x for x in (din, recipient, donor) if x]
        if len(given) != 1:
            raise typer.BadParameter("give exactly one of DIN, --recipient or --donor")
        settings = get_settings()
        if din:
            code = unit_code(din)
            data = fetch(
                settings,
                f"/v1/units/{quote(code, safe='')}/trace",
                "trace.unit",
                code,
                lambda client: unit_trace(client, code, settings),
            )
            render: Callable[[dict[str, Any]], None] = render_unit
        elif recipient:
            pseudonym = person_id(recipient, settings)
            data = fetch(
                settings,
                f"/v1/recipients/{pseudonym}/trace",
                "trace.recipient",
                pseudonym,
                lambda client: recipient_trace(client, pseudonym, settings),
            )
            render = render_recipient
        else:
            pseudonym = person_id(donor, settings)
            data = fetch(
                settings,
                f"/v1/donors/{pseudonym}/trace",
                "trace.donor",
                pseudonym,
                lambda client: donor_trace(client, pseudonym, settings),
            )
            render = render_donor
        if as_json:
            print_json(data)
        else:
            render(data)
