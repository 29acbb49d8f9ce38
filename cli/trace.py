"""`bloodtrace trace DIN | --recipient ID | --donor ID`: vein-to-vein trace in the terminal.

Through the running platform's HTTP API when it is up (embedded chDB has one owner), else
straight on the warehouse; the same service function (streams/trace.py) answers on both paths
and every lookup is audited. National ID numbers are pseudonymised here, before anything
leaves this process.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import typer

from cli._output import console, friendly, print_answer, print_table
from cli._platform import platform_or_warehouse
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
    return platform_or_warehouse(
        settings,
        path,
        lambda client: audited(client, who, action, subject, lambda: service(client)),
        headers={"X-Bloodtrace-Client": f"cli {who.client}"},  # who: the token's identity
    )


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
    print_table(
        "components",
        ("product", "type", "ml", "group", "expires", "status", "held by", "recipient"),
        (
            (
                c["product_code"] or "(donation)",
                c["component_type"],
                c["volume_ml"],
                c["abo_rh"],
                _time(c["expires_at"]),
                _status(c["status"]),
                c["holder_facility"] + (" (in transit)" if c["in_transit"] else ""),
                c["recipient_id"],
            )
            for c in trace["components"]
        ),
    )
    print_table(
        "chain, in time order",
        ("when (UTC)", "step", "where", "product", "what happened"),
        (
            (
                _time(s["at"]),
                f"{s['step']} {s['label_zh']}",
                s["facility_id"],
                s["product_code"],
                _step_summary(s),
            )
            for s in trace["steps"]
        ),
        fold=True,
    )


def _step_summary(step: dict[str, Any]) -> str:
    summary: str = step["summary"]
    if step["step"] in ("storage.excursion", "recall.notice") or "REACTIVE" in summary:
        return f"[bold red]{summary}[/]"
    return summary


def render_recipient(data: dict[str, Any]) -> None:
    console.print(
        f"[bold]Recipient {data['recipient_id']}[/]: blood from {len(data['donors'])} donor(s)",
        highlight=False,
    )
    print_table(
        "received",
        ("when (UTC)", "DIN", "product", "type", "group", "how", "where", "donor", "collected"),
        (
            (
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
            for r in data["received"]
        ),
    )
    for unit in data["units"]:
        render_unit(unit)


def render_donor(data: dict[str, Any]) -> None:
    console.print(
        f"[bold]Donor {data['donor_id']}[/]: {len(data['donations'])} donation(s), "
        f"{len(data['recipients'])} recipient(s)",
        highlight=False,
    )
    print_table(
        "donations and where each component went",
        ("collected", "DIN", "kind", "screening", "component", "status", "held by", "recipient"),
        _donor_rows(data["donations"]),
    )
    for lb in data["lookbacks"]:
        console.print(
            f"lookback {lb['lookback_id']} opened {_time(lb['opened_at'])} "
            f"on donation {lb['index_din']}",
            highlight=False,
        )


def _donor_rows(donations: list[dict[str, Any]]) -> Iterator[tuple[str, ...]]:
    """A line per component; the donation's own cells on its first component's line only."""
    for d in donations:
        donation = (
            f"{_time(d['collected_at'])} {d['collected_by']}",
            d["din"],
            d["donation_kind"].replace("_", " "),
            d["screening"],
        )
        for i, c in enumerate(d["components"]):
            yield (
                *(donation if i == 0 else ("", "", "", "")),
                f"{c['product_code'] or '(donation)'} {c['component_type']}",
                _status(c["status"]),
                c["holder_facility"],
                c["recipient_id"],
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
            subject = unit_code(din)
            path, action = f"/v1/units/{quote(subject, safe='')}/trace", "trace.unit"
            query: Callable[[WarehouseClient, str, Settings], dict[str, Any]] = unit_trace
            render: Callable[[dict[str, Any]], None] = render_unit
        elif recipient:
            subject = person_id(recipient, settings)
            path, action = f"/v1/recipients/{subject}/trace", "trace.recipient"
            query, render = recipient_trace, render_recipient
        else:
            subject = person_id(donor, settings)
            path, action = f"/v1/donors/{subject}/trace", "trace.donor"
            query, render = donor_trace, render_donor
        data = fetch(settings, path, action, subject, lambda c: query(c, subject, settings))
        print_answer(data, as_json, render)
