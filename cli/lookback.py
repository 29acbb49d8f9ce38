"""`bloodtrace lookback list | show ID`: lookbacks and the recalls they track."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import typer

from cli._output import console, friendly, print_answer, print_table
from cli.trace import _status, _time, fetch
from infra.settings import get_settings
from streams.lookback import list_lookbacks, show_lookback

_TRACKING_STYLE = {
    "open": "bold red",
    "resolved": "green",
    "transfused: notify recipient": "yellow",
}


def render_list(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("no lookbacks")
        return
    print_table(
        "lookbacks (newest first)",
        (
            "lookback",
            "opened (UTC)",
            "donor",
            "index DIN",
            "markers",
            "confirmed by",
            "earlier",
            "recipients",
            "recalls",
            "open",
            "status",
        ),
        (
            (
                r["lookback_id"],
                _time(r["opened_at"]),
                r["donor_id"],
                r["index_din"],
                ", ".join(r["markers"]),
                r["confirmed_by"],
                r["earlier_donations"],
                r["recipients"],
                r["recalls"],
                r["open_recalls"],
                f"[bold red]{r['status']}[/]" if r["status"] == "open" else r["status"],
            )
            for r in rows
        ),
    )


def render_show(data: dict[str, Any]) -> None:
    console.print(
        f"[bold]Lookback {data['lookback_id']}[/] ({data['status']}, "
        f"{data['open_recalls']} recall(s) open): donor {data['donor_id']} confirmed reactive "
        f"for {', '.join(data['markers'])} ({data['confirmed_by']}) on {data['index_din']}, "
        f"detected {_time(data['detected_at'])}; window: {data['window_rule']}"
        f"{' from ' + _time(data['window_start']) if data['window_start'] else ''}",
        highlight=False,
    )
    print_table(
        "donations and components in scope",
        (
            "DIN",
            "role",
            "collected",
            "product",
            "type",
            "at opening",
            "now",
            "held by",
            "recipient",
            "recall",
            "tracking",
        ),
        (
            (
                c["din"],
                c["role"],
                _time(c["collected_at"]),
                c["product_code"] or "(donation)",
                c["component_type"],
                c["status_at_open"],
                _status(c["status"]),
                c["holder_facility"],
                c["recipient_id"],
                c["recall_id"],
                _tracking(c["recall"]),
            )
            for c in data["components_in_scope"]
        ),
    )
    if data["recipients_to_notify"]:
        console.print(
            "recipients to notify: " + ", ".join(data["recipients_to_notify"]), highlight=False
        )


def _tracking(tracking: str) -> str:
    style = _TRACKING_STYLE.get(tracking)
    return f"[{style}]{tracking}[/]" if style else tracking


def register(app: typer.Typer) -> None:
    lookback_app = typer.Typer(
        help="Lookbacks opened by confirmed reactive donations, and their recalls.",
        no_args_is_help=True,
    )
    app.add_typer(lookback_app, name="lookback")

    @lookback_app.command("list")
    @friendly
    def list_(
        status: str = typer.Option(None, "--status", help="open (recalls still out) or closed."),
        limit: int = typer.Option(100, "--limit", min=1, max=10_000),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """The latest lookbacks with how many recalled components are still out."""
        if status not in (None, "open", "closed"):
            raise typer.BadParameter("--status is open or closed")
        settings = get_settings()
        query = f"?limit={limit}" + (f"&status={status}" if status else "")
        rows = fetch(
            settings,
            f"/v1/lookbacks{query}",
            "lookback.list",
            status or "all",
            lambda client: list_lookbacks(client, settings, status=status, limit=limit),
        )
        print_answer(rows, as_json, render_list)

    @lookback_app.command("show")
    @friendly
    def show(
        lookback_id: str = typer.Argument(..., help="A lookback id (LB-…)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """One lookback: every donation and component in scope, where each is now, the
        recipients to notify and each recall until the component is quarantined or
        discarded. Exit 1 if unknown."""
        settings = get_settings()
        data = fetch(
            settings,
            f"/v1/lookbacks/{quote(lookback_id.strip(), safe='')}",
            "lookback.show",
            lookback_id.strip()[:40],
            lambda client: show_lookback(client, lookback_id, settings),
        )
        print_answer(data, as_json, render_show)
