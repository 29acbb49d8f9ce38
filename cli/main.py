"""The `bloodtrace` console command.

Commands live in cli/ modules, one per concern, each exposing ``register(app)``; add a new
module to COMMAND_MODULES. Any BloodtraceError becomes a message and an exit code, never a
traceback.
"""

from __future__ import annotations

import importlib

import typer

from infra.errors import BloodtraceError

COMMAND_MODULES: list[str] = [
    "cli.identifiers",
    "cli.platform",
    "cli.producers",
    "cli.demo",
    "cli.quality",
    "cli.trace",
    "cli.lookback",
    "cli.inventory",
    "cli.dbt",
    "cli.supply",
    "cli.figures",
    "cli.dashboard",
    "cli.access",
    "cli.audit",
]

app = typer.Typer(
    name="bloodtrace",
    help="Bloodtrace: vein-to-vein blood traceability on Kafka, Faust and ClickHouse.\n\n"
    "Start with `bloodtrace demo`, or `bloodtrace serve` to run the platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)

for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def run() -> None:
    from cli._output import report
    from infra import logmask

    logmask.install()  # no national ID number in any log line of any command

    try:
        app()
    except BloodtraceError as exc:
        raise SystemExit(report(exc)) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
