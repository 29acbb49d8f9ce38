"""The leadership dashboard against a running platform with a simulated city.

One platform for the module: three simulated weeks of the small city in June 2024 and June
2025 go straight into the warehouse, dbt builds the marts and the quality checks run; then the
last two days go through the platform's HTTP ingest so the processors raise real alerts.

API tests read the JSON endpoints and check them against the marts read with plain SQL. Browser
tests drive Debian's headless Chromium with Playwright (executable_path, never a downloaded
browser): every panel draws with data, no console errors, no request leaves 127.0.0.1, the
language switch, a county drill-down, the workbook export, /docs offline; screenshots go to
var/test-artifacts/.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlparse

import httpx
import openpyxl
import pytest
from dashboard_city import build_city
from harness import (
    ThreadPlatform,
    platform_settings,
    settings_env,
    thread_platform,
    wait_until,
)

from infra.settings import Settings
from infra.warehouse import connect
from models.rules import DbtRules, QualityRules

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
# Nothing of Chromium's own reaches for the network either (updates, sync, field trials).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--disable-gpu",
]
YEAR, BASELINE = 2025, 2024
PANELS = [
    "panel-headline",
    "panel-speech",
    "panel-supply",
    "panel-inventory",
    "panel-wastage",
    "panel-donors",
    "panel-counties",
    "panel-alerts",
    "panel-findings",
    "panel-campaigns",
]
CHARTS = [
    "c-supply",
    "c-inventory-now",
    "c-inventory-history",
    "c-wastage-cause",
    "c-wastage-component",
    "c-wastage-facility",
    "c-donor-groups",
    "c-donor-types",
    "c-donor-ages",
    "c-penetration",
    "c-counties",
    "c-campaigns",
    "c-honours",
]


@pytest.fixture(scope="module")
def dash(
    tmp_path_factory: pytest.TempPathFactory, broker: str, warehouse_dsn: str
) -> Iterator[ThreadPlatform]:
    settings = platform_settings(
        tmp_path_factory.mktemp("dashboard"),
        broker,
        warehouse_url=warehouse_dsn,
        warehouse_database=f"dash_{uuid.uuid4().hex[:6]}",
        dbt=DbtRules(schedule_seconds=0),
        quality=QualityRules(schedule_seconds=0),
    )
    late = build_city(settings, year=YEAR)
    with thread_platform(settings) as handle:
        for start in range(0, len(late), 500):
            response = httpx.post(f"{handle.url}/v1/events", json=late[start : start + 500])
            assert response.status_code == 200, response.text
        handle.wait_idle(180)  # every streamed event processed...
        wait_until(  # ...and its alerts stored (the alerts topic has a consumer of its own)
            lambda: httpx.get(f"{handle.url}/v1/alerts?limit=1").json()["total"] >= 20,
            120,
            what="alerts raised by the processors",
        )
        yield handle


def sql(settings: Settings, query: str) -> list[tuple[Any, ...]]:
    """The marts read directly (the platform shares this process's chDB)."""
    client = connect(settings)
    try:
        return list(cast("list[tuple[Any, ...]]", client.query(query).result_rows))
    finally:
        client.close()


def get(dash: ThreadPlatform, path: str) -> Any:
    response = httpx.get(f"{dash.url}{path}", timeout=60)
    assert response.status_code == 200, (path, response.status_code, response.text)
    return response.json()


# ---- the API ------------------------------------------------------------------------------
def test_every_panel_endpoint_answers_with_data(dash: ThreadPlatform) -> None:
    options = get(dash, "/v1/marts/options")
    assert options["years"] == [BASELINE, YEAR]
    assert options["default_period"] == str(YEAR) and options["default_baseline"] == BASELINE
    county = options["counties"][0]["county_code"]
    assert get(dash, f"/v1/marts/headline?county={county}")["donations"] > 0
    assert get(dash, "/v1/marts/supply-demand")["monthly"]
    assert get(dash, "/v1/marts/inventory?period=2025-06")["now"]
    assert get(dash, f"/v1/marts/wastage?county={county}")["by_cause"]
    assert get(dash, "/v1/marts/donors")["by_group"]
    assert len(get(dash, "/v1/marts/counties")["counties"]) == len(options["counties"])
    detail = get(dash, f"/v1/marts/counties/{county}")
    assert detail["sites"] and detail["hospitals"]
    assert get(dash, "/v1/marts/campaigns")["campaigns"]
    assert get(dash, "/v1/findings")["total"] > 0
    speech = get(dash, "/v1/marts/speech")
    assert speech["year"] == YEAR and speech["baseline_year"] == BASELINE
    assert len(speech["sentences"]["zh"]) >= 4 and len(speech["sentences"]["en"]) >= 4
    # The speech panel reads the speech_figures_by_year mart (the figures `bloodtrace figures`
    # prints) when it holds the year and baseline.
    assert speech["source"] == "speech_figures_by_year"
    mart = get(dash, f"/v1/figures?year={YEAR}&baseline={BASELINE}")["figures"]
    by_name = {f["figure"]: f for f in mart}
    assert speech["figures"]["clinical_use_units"] == by_name["clinical_use_units"]["value"]
    assert speech["figures"]["student_share_pct"] == {
        str(BASELINE): by_name["student_share_pct"]["then_value"],
        str(YEAR): by_name["student_share_pct"]["value"],
    }


def test_headline_figures_equal_the_marts(dash: ThreadPlatform) -> None:
    s = dash.settings
    marts = f"{s.warehouse_database}_marts"
    [(donations, units)] = sql(
        s,
        f"select sum(donations), sum(units) from {marts}.collections_yearly "
        f"where collected_year = {YEAR} and county_code = '610902'",
    )
    head = get(dash, f"/v1/marts/headline?period={YEAR}&county=610902")
    assert head["donations"] == donations
    assert head["units_collected"] == pytest.approx(units, abs=1e-3)
    [(supply, demand, supply_growth, demand_growth)] = sql(
        s,
        f"select supply_units, demand_units, supply_growth_pct, demand_growth_pct "
        f"from {marts}.supply_demand_yearly where supply_year = {YEAR} and component_type = 'all'",
    )
    city = get(dash, f"/v1/marts/headline?period={YEAR}&baseline={BASELINE}")
    assert city["units_collected"] == pytest.approx(supply, abs=1e-3)
    assert city["clinical_use_units"] == pytest.approx(demand, abs=1e-3)
    assert city["collection_growth_pct"] == pytest.approx(supply_growth, abs=0.01)
    assert city["clinical_use_growth_pct"] == pytest.approx(demand_growth, abs=0.01)
    [(discarded, produced)] = sql(
        s,
        f"select sum(discarded_units), sum(produced_units) from {marts}.wastage_monthly "
        f"where cause = 'all' and toYear(waste_month) = {YEAR}",
    )
    assert city["discarded_units"] == pytest.approx(discarded, abs=1e-3)
    assert city["wastage_rate_pct"] == pytest.approx(discarded / produced * 100, abs=0.01)


def test_alerts_are_paged_newest_first_and_filtered(dash: ThreadPlatform) -> None:
    first = get(dash, "/v1/alerts?limit=5")
    second = get(dash, "/v1/alerts?limit=5&offset=5")
    assert first["total"] == second["total"] > 5
    ids = [a["alert_id"] for a in first["items"] + second["items"]]
    assert len(set(ids)) == 10
    times = [a["occurred_at"] for a in first["items"] + second["items"]]
    assert times == sorted(times, reverse=True)
    summary = get(dash, "/v1/alerts/summary")
    for severity, count in summary["open_by_severity"].items():
        page = get(dash, f"/v1/alerts?severity={severity}&limit=1000")
        assert {a["severity"] for a in page["items"]} <= {severity}
        assert page["total"] >= count
    latest = first["items"][0]["occurred_at"]
    assert get(dash, f"/v1/alerts?since={latest}")["total"] >= 1


def test_bad_filters_are_clear_errors(dash: ThreadPlatform) -> None:
    bad_period = httpx.get(f"{dash.url}/v1/marts/headline?period=June")
    assert bad_period.status_code == 422
    assert "period" in bad_period.json()["detail"]["message"]
    unknown = httpx.get(f"{dash.url}/v1/marts/counties/X99")
    assert unknown.status_code == 404 and "X99" in unknown.json()["detail"]["message"]
    assert httpx.get(f"{dash.url}/v1/marts/tables/events").status_code == 404
    page = get(dash, "/v1/marts/tables/county_scorecard?limit=3&county=610902")
    assert page["total"] == 2 and {r["county_code"] for r in page["items"]} == {"610902"}


def test_openapi_documents_every_dashboard_endpoint(dash: ThreadPlatform) -> None:
    paths = get(dash, "/openapi.json")["paths"]
    for path in (
        "/v1/alerts",
        "/v1/findings",
        "/v1/marts/headline",
        "/v1/marts/speech",
        "/v1/marts/inventory",
        "/v1/marts/counties/{county_code}",
        "/v1/marts/tables/{table}",
        "/v1/dashboard/export.xlsx",
    ):
        assert path in paths, path


def test_export_workbook_has_chinese_sheets_and_the_speech_figures(dash: ThreadPlatform) -> None:
    response = httpx.get(f"{dash.url}/v1/dashboard/export.xlsx?period={YEAR}", timeout=60)
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames[:3] == ["讲话数据", "核心指标", "采供对比"]
    speech = [row[1] for row in book["讲话数据"].iter_rows(min_row=4, values_only=True)]
    assert speech == get(dash, "/v1/marts/speech")["sentences"]["zh"]
    figures = {row[0]: row[1] for row in book["核心指标"].iter_rows(values_only=True)}
    assert figures["献血人次"] == get(dash, f"/v1/marts/headline?period={YEAR}")["donations"]


def _cli(dash: ThreadPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=settings_env(dash.settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_alerts_and_report_through_the_platform(dash: ThreadPlatform, tmp_path: Path) -> None:
    import json

    done = _cli(dash, "alerts", "--severity", "critical", "--json", "--limit", "3")
    assert done.returncode == 0, done.stderr
    page = json.loads(done.stdout)
    assert page["total"] == get(dash, "/v1/alerts?severity=critical")["total"]
    assert {a["severity"] for a in page["items"]} == {"critical"}
    bad = _cli(dash, "alerts", "--since", "yesterday")
    assert bad.returncode != 0 and "--since" in bad.stderr and "Traceback" not in bad.stderr
    out = tmp_path / "report.xlsx"
    done = _cli(dash, "report", "--year", str(YEAR), "--baseline", str(BASELINE), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "讲话数据" in openpyxl.load_workbook(out).sheetnames


# ---- the page, in headless Chromium --------------------------------------------------------
@pytest.fixture(scope="module")
def browser(warehouse_profile: str) -> Iterator[Any]:
    if warehouse_profile == "server":
        pytest.skip("the page does not depend on the warehouse profile: ran in the embedded pass")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("Debian's chromium is missing: `make test` installs it (make browsers)")
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Recorder:
    """Every request the page makes and every console error; requests to anywhere but
    127.0.0.1 are recorded and refused."""

    def __init__(self, context: Any) -> None:
        self.requests: list[str] = []
        self.errors: list[str] = []
        context.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        url = route.request.url
        self.requests.append(url)
        if urlparse(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            route.abort()

    def watch(self, page: Any) -> None:
        def console(message: Any) -> None:
            if message.type == "error":
                self.errors.append(message.text)

        page.on("console", console)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def outside(self) -> list[str]:
        return [u for u in self.requests if urlparse(u).hostname != "127.0.0.1"]


def person(dash: ThreadPlatform, role: str) -> str:
    """A new person's token of ``role`` (made by the harness's administrator)."""
    body = {"kind": "person", "name": f"dashboard {role}", "role": role}
    answer = httpx.post(f"{dash.url}/v1/admin/credentials", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def sign_in(p: Any, token: str) -> None:
    """Through the sign-in page, as a person does: fill in the token, submit."""
    p.wait_for_selector("#t")
    p.fill("#t", token)
    p.click("button")


@pytest.fixture(scope="module")
def signed_in(dash: ThreadPlatform, browser: Any) -> dict[str, Any]:
    """A quality officer's signed-in browser state (the page's data calls need a viewer, its
    unit trace a quality officer): the page sends a visitor to /signin and back after it."""
    context = browser.new_context()
    recorder = Recorder(context)
    p = context.new_page()
    recorder.watch(p)
    p.goto(f"{dash.url}/")
    assert urlparse(p.url).path == "/signin"
    sign_in(p, person(dash, "quality_officer"))
    p.wait_for_url(f"{dash.url}/")
    ready(p)
    state: dict[str, Any] = context.storage_state()
    context.close()
    assert not recorder.errors, recorder.errors
    assert {c["name"] for c in state["cookies"]} >= {"bt_session", "bt_csrf"}
    return state


@pytest.fixture
def page(browser: Any, signed_in: dict[str, Any]) -> Iterator[tuple[Any, Recorder]]:
    context = browser.new_context(
        viewport={"width": 1600, "height": 1000},
        accept_downloads=True,
        storage_state=signed_in,  # the session cookie: no credential in any other form
    )
    recorder = Recorder(context)
    page = context.new_page()
    recorder.watch(page)
    yield page, recorder
    context.close()
    assert not recorder.errors, recorder.errors
    assert not recorder.outside(), recorder.outside()


def ready(page: Any) -> None:
    page.wait_for_function("document.body.dataset.ready === '1'", timeout=60_000)


def chart_points(page: Any, chart_id: str) -> int:
    return int(
        page.evaluate(
            """id => {
              const c = echarts.getInstanceByDom(document.getElementById(id));
              if (!c) return 0;
              const drawn = d => d != null && (typeof d !== "object" || Array.isArray(d) ||
                (d.value != null && !Number.isNaN(d.value)));
              return c.getOption().series.reduce(
                (n, s) => n + (s.data ? s.data.filter(drawn).length : 0), 0);
            }""",
            chart_id,
        )
    )


def test_every_panel_draws_with_data_offline(dash: ThreadPlatform, page: Any) -> None:
    p, recorder = page
    p.goto(f"{dash.url}/")
    ready(p)
    assert p.title() == "无偿献血与血液保障数据看板"
    for chart in CHARTS:
        assert chart_points(p, chart) > 0, chart
    for panel in PANELS:
        assert not p.locator(f"#{panel} .error").count(), p.locator(f"#{panel} .error").inner_text()
    assert p.locator("#kpis .kpi").count() == 8
    assert p.locator("#speech li").count() >= 4
    assert p.locator("#t-alerts tr[data-alert]").count() == 10
    assert p.locator("#t-findings tr").count() > 1
    assert p.locator("#t-counties tr[data-county]").count() == 10  # Ankang's ten
    honours = p.evaluate(
        "echarts.getInstanceByDom(document.getElementById('c-honours')).getOption().series[0].data"
    )
    assert honours[:3] == [1, 1, 1]  # the devoted donors: bronze, silver, gold
    assert p.locator("#c-counties").get_attribute("data-mode") == "map"  # Ankang's codes
    p.screenshot(path=str(ARTIFACTS / "dashboard-zh.png"), full_page=True)
    local = {urlparse(u).path for u in recorder.requests}
    assert {"/static/vendor/echarts.min.js", "/static/vendor/map-ankang.js"} <= local


def test_figures_on_the_page_equal_the_marts(dash: ThreadPlatform, page: Any) -> None:
    p, _ = page
    s = dash.settings
    marts = f"{s.warehouse_database}_marts"
    p.goto(f"{dash.url}/?period={YEAR}&county=610928&baseline={BASELINE}")
    ready(p)

    def shown(figure: str) -> float:
        return float(p.locator(f"[data-figure='{figure}']").get_attribute("data-value"))

    [(donations, units)] = sql(
        s,
        f"select sum(donations), sum(units) from {marts}.collections_yearly "
        f"where collected_year = {YEAR} and county_code = '610928'",
    )
    [(used,)] = sql(
        s,
        f"select sum(transfused_units) from {marts}.clinical_use_monthly where use_year = {YEAR} "
        f"and county_code = '610928' and component_type in (select component_type from "
        f"{s.warehouse_database}_reference.component_types where counts_toward_total_demand = 1)",
    )
    assert shown("donations") == donations
    assert shown("units") == pytest.approx(units, abs=1e-3)
    assert shown("use") == pytest.approx(used, abs=1e-3)
    card = {
        code: (rank, per_1000)
        for code, rank, per_1000 in sql(
            s,
            f"select county_code, overall_rank, donations_per_1000 from {marts}.county_scorecard "
            f"where score_year = {YEAR}",
        )
    }
    for row in p.locator("#t-counties tr[data-county]").all():
        cells = row.locator("td").all_inner_texts()
        rank, per_1000 = card[row.get_attribute("data-county")]
        assert cells[0] == ("—" if rank is None else str(rank))
        assert float(cells[2]) == pytest.approx(per_1000 or 0, abs=0.005 + 1e-9)  # shown to 0.01
    # The red-cell days of supply on the last stock day, from inventory_daily.
    [(days,)] = sql(
        s,
        f"select sum(available_units) / sum(mean_daily_issue) from {marts}.inventory_daily "
        f"where component_type = 'red_cells' and stock_date = (select max(stock_date) "
        f"from {marts}.inventory_daily)",
    )
    assert shown("dos") == pytest.approx(days, abs=0.01)


def test_a_din_opens_the_units_trace(dash: ThreadPlatform, page: Any) -> None:
    p, _ = page
    p.goto(f"{dash.url}/")
    ready(p)
    # Quality findings always name a unit; which alerts are newest (some name none) depends
    # on the processors' timing.
    link = p.locator("#t-findings a.trace").first
    din = link.get_attribute("data-din")
    link.click()
    p.wait_for_selector("#modal-body table tr:nth-child(2)")
    assert din in p.locator("#modal-body h2").inner_text()
    steps = get(dash, f"/v1/units/{din}/trace")["steps"]
    assert p.locator("#modal-body table tr").count() == len(steps) + 1
    p.click("#modal-close")
    assert p.locator("#modal").is_hidden()


def test_language_switch(dash: ThreadPlatform, page: Any) -> None:
    p, _ = page
    p.goto(f"{dash.url}/")
    ready(p)
    assert p.locator("html").get_attribute("lang") == "zh-CN"
    p.click("#b-lang")
    ready(p)
    assert p.locator("h1").inner_text() == "Blood donation and supply dashboard"
    assert p.locator("html").get_attribute("lang") == "en"
    assert "Clinical use" in p.locator("#panel-headline").inner_text()
    assert "In 2025" in p.locator("#speech").inner_text()
    p.screenshot(path=str(ARTIFACTS / "dashboard-en.png"), full_page=True)
    p.click("#b-lang")
    ready(p)
    assert p.locator("h1").inner_text() == "无偿献血与血液保障数据看板"


def test_clicking_a_county_drills_down_to_its_sites_and_hospitals(
    dash: ThreadPlatform, page: Any
) -> None:
    p, _ = page
    p.goto(f"{dash.url}/")
    ready(p)
    city = float(p.locator("[data-figure='donations']").get_attribute("data-value"))
    p.click("#t-counties tr[data-county='610902']")
    p.wait_for_selector("#t-sites")
    ready(p)
    assert p.locator("#f-county").input_value() == "610902"
    assert "county=610902" in p.url
    detail = get(dash, f"/v1/marts/counties/610902?year={YEAR}")
    assert p.locator("#t-sites tr").count() == len(detail["sites"]) + 1
    assert p.locator("#t-hospitals tr").count() == len(detail["hospitals"]) + 1
    county = float(p.locator("[data-figure='donations']").get_attribute("data-value"))
    assert 0 < county < city
    p.screenshot(path=str(ARTIFACTS / "dashboard-county-610902.png"), full_page=True)


def test_export_downloads_a_workbook_with_the_speech_figures(
    dash: ThreadPlatform, page: Any
) -> None:
    p, _ = page
    p.goto(f"{dash.url}/")
    ready(p)
    with p.expect_download() as download:
        p.click("#b-export")
    target = ARTIFACTS / "dashboard-export.xlsx"
    download.value.save_as(str(target))
    book = openpyxl.load_workbook(target)
    assert "讲话数据" in book.sheetnames
    text = " ".join(str(c) for row in book["讲话数据"].iter_rows(values_only=True) for c in row)
    assert f"{YEAR}年,全市临床用血量" in text


def test_wall_display_and_ankang_map(dash: ThreadPlatform, page: Any) -> None:
    p, _ = page

    # The default city's county codes are Ankang's (dbt/seeds/counties.csv): the scorecard is
    # drawn on the 安康 outlines, one point per county-level division.
    p.goto(f"{dash.url}/?wall=1")
    ready(p)
    assert "wall" in (p.locator("body").get_attribute("class") or "")
    assert p.locator("#c-counties").get_attribute("data-mode") == "map"
    assert chart_points(p, "c-counties") == 10
    p.screenshot(path=str(ARTIFACTS / "dashboard-wall-ankang-map.png"), full_page=True)


def test_a_map_with_no_room_is_left_alone(dash: ThreadPlatform, page: Any) -> None:
    """ECharts 6.1.0 throws on every frame once a map is resized to 0x0 (apache/echarts#21706:
    a hidden panel, a closing page): the page resizes only charts that have room."""
    p, recorder = page
    p.goto(f"{dash.url}/")
    ready(p)
    assert p.locator("#c-counties").get_attribute("data-mode") == "map"
    p.evaluate("""() => {
      const box = document.getElementById("c-counties").style;
      box.width = box.height = "0px";
      window.dispatchEvent(new Event("resize"));
    }""")
    p.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    assert recorder.errors == []
    p.evaluate("""() => {
      const box = document.getElementById("c-counties").style;
      box.width = box.height = "";
      window.dispatchEvent(new Event("resize"));
    }""")
    assert chart_points(p, "c-counties") == 10


def test_docs_work_offline(dash: ThreadPlatform, page: Any) -> None:
    p, recorder = page
    p.goto(f"{dash.url}/docs")
    p.wait_for_selector(".swagger-ui .info .title", timeout=60_000)
    assert "Bloodtrace" in p.locator(".swagger-ui .info .title").inner_text()
    p.wait_for_selector(".opblock-summary-path[data-path='/v1/alerts']")
    p.screenshot(path=str(ARTIFACTS / "docs.png"))
    assert any("/static/vendor/swagger-ui/" in u for u in recorder.requests)


def test_sign_in_is_needed_and_a_viewer_cannot_trace(dash: ThreadPlatform, browser: Any) -> None:
    """Not signed in: the page sends the visitor to /signin and back; a wrong token is
    refused there; a viewer sees every figure but not a unit's trace; sign-out ends it."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    recorder = Recorder(context)
    p = context.new_page()
    recorder.watch(p)
    try:
        p.goto(f"{dash.url}/?period={YEAR}&county=610902")
        assert urlparse(p.url).path == "/signin"
        sign_in(p, "bt_nobody000_" + "x" * 43)
        p.wait_for_function("document.getElementById('e').textContent !== ''")
        assert urlparse(p.url).path == "/signin"
        sign_in(p, person(dash, "viewer"))
        p.wait_for_url(f"{dash.url}/?period={YEAR}&county=610902")
        ready(p)
        assert p.locator("#f-county").input_value() == "610902"
        for panel in PANELS:
            assert not p.locator(f"#{panel} .error").count(), panel
        p.locator("#t-findings a.trace").first.click()
        p.wait_for_selector("#modal-body p.empty")
        assert "viewer may not" in p.locator("#modal-body").inner_text()
        p.click("#modal-close")
        p.click("#b-signout")
        p.wait_for_url(f"{dash.url}/signin")
        p.goto(f"{dash.url}/")
        assert urlparse(p.url).path == "/signin"
    finally:
        context.close()
    # The browser's own log of the two refusals this test provoked, and nothing else.
    unexpected = [e for e in recorder.errors if not re.search(r"status of (401|403)", e)]
    assert not unexpected, unexpected
    assert len(recorder.errors) == 2, recorder.errors
    assert not recorder.outside(), recorder.outside()
