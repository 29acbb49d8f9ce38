"""`bloodtrace alerts` and `bloodtrace report`: the dashboard's alerts and workbook in a terminal.

Both ask the running platform's API (it owns the embedded warehouse); with no platform running
they read the warehouse here through the same query service (api.dashboard.queries).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import typer

from cli._output import console, fail, friendly, parse_time, print_json, print_table
from cli._platform import api_call, platform_is_up
from infra.errors import BloodtraceError, ConfigError
from infra.settings import Settings, get_settings

T = TypeVar("T")
_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def _local(settings: Settings, work: Callable[[Any], T]) -> T:
    """Run ``work`` on a query service over the warehouse opened here."""
    from api.dashboard.queries import MartQueries, run_translated
    from infra.warehouse import connect, migrate

    def run() -> T:
        client = connect(settings)
        try:
            migrate(client)
            return work(MartQueries(client, settings.warehouse_database))
        finally:
            client.close()

    return run_translated(settings, run)


def register(app: typer.Typer) -> None:
    @app.command("alerts")
    @friendly
    def alerts(
        severity: str = typer.Option(None, "--severity", help="critical, warning or info."),
        since: str = typer.Option(None, "--since", help="Occurred at or after (UTC if no zone)."),
        rule: str = typer.Option(None, "--rule", help="One rule, e.g. inventory.level_worsened."),
        limit: int = typer.Option(50, "--limit", min=1, max=1000),
        offset: int = typer.Option(0, "--offset", min=0),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Alerts (cold chain, safety rules, inventory levels, lookbacks), newest first."""
        if severity not in (None, "critical", "warning", "info"):
            raise ConfigError(f"--severity {severity!r}: use critical, warning or info.")
        settings = get_settings()
        moment = parse_time(since, "--since")
        if platform_is_up(settings):
            query = {"severity": severity, "rule": rule, "limit": limit, "offset": offset}
            if moment:
                query["since"] = moment.isoformat()
            path = "/v1/alerts?" + urlencode({k: v for k, v in query.items() if v is not None})
            page = api_call(settings, "GET", path)
        else:
            page = _local(
                settings,
                lambda q: q.alerts(
                    severity=severity, rule=rule, since=moment, limit=limit, offset=offset
                ),
            )
        if as_json:
            print_json(page)
            return
        items = page["items"]
        if not items:
            console.print("no alerts")
            return
        print_table(
            f"alerts {offset + 1}-{offset + len(items)} of {page['total']} (newest first)",
            ["occurred (UTC)", "severity", "rule", "DIN", "facility", "message"],
            (
                [
                    (a["occurred_at"] or "").replace("T", " ")[:19],
                    f"[{_STYLE.get(a['severity'], '')}]{a['severity']}[/]",
                    a["rule"],
                    a["din"],
                    a["facility_id"],
                    a["message_en"],
                ]
                for a in items
            ),
        )

    @app.command("report")
    def report(
        year: int = typer.Option(..., "--year", help="The year (or use --period for a month)."),
        baseline: int = typer.Option(None, "--baseline", help="Baseline year for growth."),
        county: str = typer.Option(None, "--county", help="One county code; default the city."),
        output: Path = typer.Option(..., "-o", "--output", help="The .xlsx file to write."),
    ) -> None:
        """Write the year's figures and tables as an .xlsx workbook (sheets in Chinese) for
        the quarterly meeting's papers: speech figures, headline figures, supply and demand,
        inventory, wastage, donors, county scorecard, campaigns and honours, alerts."""
        try:
            settings = get_settings()
            if platform_is_up(settings):
                data = _download(settings, year, baseline, county)
            else:
                data = _local(settings, lambda q: _workbook(q, year, baseline, county))
            output.write_bytes(data)
        except OSError as exc:
            fail(ConfigError(f"Cannot write {output}: {exc.strerror}."))
        except BloodtraceError as exc:
            fail(exc)
        console.print(f"wrote {output} ({len(data):,} bytes)", highlight=False)


def _workbook(q: Any, year: int, baseline: int | None, county: str | None) -> bytes:
    from api.dashboard.queries import Period
    from api.dashboard.workbook import build_workbook

    q.check_county(county)
    period = Period(year)
    return build_workbook(q, period, county, baseline or q.default_baseline(year))


def _download(settings: Settings, year: int, baseline: int | None, county: str | None) -> bytes:
    import httpx

    query = {"period": year, "baseline": baseline, "county": county}
    url = f"{settings.api_base_url}/v1/dashboard/export.xlsx?" + urlencode(
        {k: v for k, v in query.items() if v is not None}
    )
    token = settings.cli_token()  # the platform answers 401 without one (api/auth.py)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(url, timeout=120, headers=headers)
    except httpx.HTTPError as exc:
        raise BloodtraceError(f"The platform did not answer: {exc}") from exc
    if response.status_code != 200:
        # The API's errors are JSON with the message: reuse the generic path for them.
        api_call(settings, "GET", url.removeprefix(settings.api_base_url))
        raise BloodtraceError(f"The platform answered {response.status_code}.")
    return response.content
