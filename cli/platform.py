"""`bloodtrace serve`, `status`, `migrate`, `schema`: running and inspecting the platform."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import typer

from cli._output import console, fail, print_json, print_table
from cli._platform import api_call
from infra.errors import BloodtraceError
from infra.settings import get_settings


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at INFO level."),
    ) -> None:
        """Run the platform: broker (embedded Tansu unless BLOODTRACE_BROKER_URL is set),
        warehouse migrations, the stream worker, the HTTP API and the scheduled jobs.
        Stops on Ctrl-C."""
        from api.server import serve as run_platform
        from infra import runlock

        logging.basicConfig(
            level=logging.INFO if verbose else logging.WARNING,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        logging.getLogger("bloodtrace.kafka").propagate = verbose
        settings = get_settings()
        try:  # one platform per data directory: refuse before touching anything
            lock = runlock.acquire(settings, "serve")
        except BloodtraceError as exc:
            fail(exc)
        console.print(
            f"Bloodtrace platform: API on {settings.api_base_url}, "
            f"broker {settings.bootstrap_servers}, data in {settings.data_path}",
            highlight=False,
        )
        run_platform(settings, run_lock=lock)

    @app.command()
    def status(
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Health, throughput, rejections by reason, consumer lag and rows per table of the
        running platform."""
        data = api_call(get_settings(), "GET", "/v1/status")
        if as_json:
            print_json(data)
            return
        health = data["health"]
        console.print(f"status: [bold]{health['status']}[/]  uptime {data['uptime_seconds']} s")
        for name, check in health["checks"].items():
            console.print(f"  {name:10} {check['status']}", highlight=False)
        m = data["metrics"]
        console.print(f"events accepted {m['accepted']}, duplicates dropped {m['duplicates']}")
        if m.get("skipped"):
            print_table(
                "not written by the sink (why)", ["reason", "rows"], sorted(m["skipped"].items())
            )
        if m["rejected"]:
            print_table("rejected by reason", ["reason", "events"], sorted(m["rejected"].items()))
        if m["consumer_lag"]:
            print_table(
                "consumer lag", ["topic[partition]", "lag"], sorted(m["consumer_lag"].items())
            )
        print_table("warehouse rows", ["table", "rows"], sorted(data["tables"].items()))

    @app.command()
    def migrate() -> None:
        """Create or migrate the warehouse schema (the platform also does this at start)."""
        from infra import runlock
        from infra.warehouse import connect
        from infra.warehouse import migrate as apply

        settings = get_settings()
        try:
            if settings.embedded_warehouse:  # chDB: only while no platform owns the directory
                with runlock.holding(settings, "migrate"):
                    applied = apply(connect(settings))
            else:
                applied = apply(connect(settings))
        except BloodtraceError as exc:
            fail(exc)
        console.print(f"applied: {', '.join(applied)}" if applied else "schema is up to date")

    @app.command()
    def schema(
        out: Path = typer.Option(Path("schemas"), "--out", "-o", help="Folder to write into."),
    ) -> None:
        """Write a JSON Schema for every event type, for emitters in other languages."""
        from models.schemas import event_schemas

        out.mkdir(parents=True, exist_ok=True)
        for name, document in event_schemas().items():
            (out / f"{name}.schema.json").write_bytes(
                orjson.dumps(document, option=orjson.OPT_INDENT_2)
            )
        console.print(f"wrote {len(event_schemas())} schemas to {out}/")
