"""`bloodtrace audit verify`: recompute the audit log's hash chains and report the first
broken link (exit 1), through the platform's API when it runs, else on the warehouse."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from cli._output import console, friendly, print_json
from cli._platform import platform_or_warehouse
from infra.settings import get_settings

if TYPE_CHECKING:
    from infra.warehouse import WarehouseClient


def run_verify() -> dict[str, Any]:
    settings = get_settings()
    return dict(platform_or_warehouse(settings, "/v1/admin/audit/verify", _verify, timeout=600))


def _verify(client: WarehouseClient) -> dict[str, Any]:
    from infra.audit import verify  # the warehouse driver loads only on this path

    return verify(client).to_dict()


def register(app: typer.Typer) -> None:
    audit = typer.Typer(help="The audit log: who looked up whom, who changed credentials.")
    app.add_typer(audit, name="audit")

    @audit.command("verify")
    @friendly
    def verify_command(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Check every audit row against its hash chain; exit 1 at a broken link."""
        result = run_verify()
        if as_json:
            print_json(result)
        elif result["ok"]:
            console.print(f"audit log intact: {result['rows']} rows in {result['chains']} chain(s)")
        else:
            first = result["first_broken"]
            console.print(
                f"[bold red]audit log broken[/]: {result['broken']} bad link(s); first: chain "
                f"{first['chain']} link {first['seq']} ({first['action']} at {first['at']}, "
                f"request {first['request_id']}): {first['problem']}",
                highlight=False,
            )
        if not result["ok"]:
            raise typer.Exit(1)
