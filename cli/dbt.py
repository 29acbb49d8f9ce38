"""`bloodtrace dbt <command> [args...]`: any dbt command on the platform's warehouse.

The dbt project is dbt/ (see dbt/README.md). With the embedded warehouse, while the platform
runs it owns the chDB directory, so the command goes to its HTTP API (POST /v1/dbt/{command});
otherwise dbt runs in this process (infra.dbt_runner), printing its usual output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from cli._output import console, fail, print_json, print_table
from cli._platform import api_call, platform_is_up
from infra import runlock
from infra.errors import BloodtraceError

if TYPE_CHECKING:
    from infra.dbt_runner import DbtResult

HELP = """Run any dbt command on the platform's warehouse: `bloodtrace dbt build`,
`bloodtrace dbt run --select marts`, `bloodtrace dbt docs generate`, `bloodtrace dbt source
freshness`, ... Everything after `dbt` goes to dbt unchanged (`bloodtrace dbt build --help` shows
dbt's own help). The profile, target, paths and the platform's rules (as dbt vars) come from the
settings; dbt's target/ and logs/ live under <data_dir>/dbt/. While the platform runs with the
embedded warehouse, the command runs inside it over HTTP. Exit code 0 when every node passed,
1 when a model or test failed."""

# A whole build can take a while on a big warehouse; the HTTP call waits for it.
REMOTE_TIMEOUT_SECONDS = 3600.0


def register(app: typer.Typer) -> None:
    @app.command(
        help=HELP,
        context_settings={
            "allow_extra_args": True,
            "ignore_unknown_options": True,
            "help_option_names": [],  # --help after a dbt command is dbt's
        },
    )
    def dbt(ctx: typer.Context) -> None:
        args = list(ctx.args)
        if not args or args[0] in ("-h", "--help"):
            console.print(ctx.get_help(), highlight=False)
            raise typer.Exit(0 if args else 2)
        try:
            success = _run(args)
        except BloodtraceError as exc:
            fail(exc)
        raise typer.Exit(0 if success else 1)


def _run(args: list[str]) -> bool:
    from infra.dbt_runner import DbtResult, run_dbt  # dbt loads only when needed
    from infra.settings import get_settings

    settings = get_settings()
    asks_help = "--help" in args or "-h" in args
    if settings.embedded_warehouse and not asks_help and platform_is_up(settings):
        data = api_call(
            settings,
            "POST",
            f"/v1/dbt/{args[0]}",
            json={"args": args[1:]},
            timeout=REMOTE_TIMEOUT_SECONDS,
        )
        result = DbtResult.from_dict(data)
        _print_remote(result)
        return result.success
    if settings.embedded_warehouse and not asks_help:
        # No platform answers: run here, holding the data directory so that a platform that
        # is starting (or a second `bloodtrace dbt`) is named in one sentence, never a chDB error.
        with runlock.holding(settings, "dbt"):
            return run_dbt(settings, args).success
    return run_dbt(settings, args).success


def _print_remote(result: DbtResult) -> None:
    if result.output:
        for line in result.output:
            console.print(line, highlight=False)
    if result.nodes:
        rows = [
            (n.resource_type, n.name, n.status, f"{n.seconds:.2f}", (n.message or "")[:120])
            for n in result.nodes
            if n.status not in ("success", "pass") or len(result.nodes) <= 40
        ]
        if rows:
            print_table(
                "dbt (run by the platform)", ["type", "node", "status", "s", "message"], rows
            )
    if result.error:
        print_json(result.error)
    console.print(result.summary(), highlight=False)
