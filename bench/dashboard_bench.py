"""`make bench` section `dashboard`: time to the first complete render of the page against the
time of its API calls alone, in the same run.

The default city (the small preset) with its years of history (two simulated years, 2024 and
2025; quick: two three-week windows) is loaded straight into a fresh chDB, dbt builds the marts and the quality
checks run; then the platform serves it. Each round times:

- api: the page's JSON calls alone, fired concurrently six at a time (as Chromium does per
  host), from the first request to the last byte; and the same calls one after another;
- page: headless Chromium from navigation start until every panel has drawn (``<body
  data-ready="1">``, set when every chart's ECharts 'finished' event has fired), in a fresh
  browser context each round (nothing cached), so it includes loading ECharts (1 MB).

Aim: the page in at most 1 s.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import httpx

if TYPE_CHECKING:
    from playwright.sync_api import StorageState

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

CHROMIUM = "/usr/bin/chromium"


def page_calls(options: dict[str, Any]) -> list[str]:
    """The JSON calls the page makes for its default view (see dashboard.js loadAll)."""
    year = options["default_period"]
    return [
        "/v1/marts/headline",
        f"/v1/marts/speech?year={year}",
        "/v1/marts/supply-demand",
        "/v1/marts/inventory",
        "/v1/marts/wastage",
        "/v1/marts/donors",
        f"/v1/marts/counties?year={year}",
        "/v1/alerts/summary",
        "/v1/alerts?limit=10&offset=0",
        "/v1/findings?limit=10&offset=0",
        f"/v1/marts/campaigns?year={year}",
    ]


def time_api(base: str, calls: list[str], token: str) -> tuple[float, float]:
    """(concurrent, sequential) seconds for the calls."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=120, headers=headers) as client:
        started = time.perf_counter()
        for path in calls:
            client.get(path).raise_for_status()
        sequential = time.perf_counter() - started
        started = time.perf_counter()
        with ThreadPoolExecutor(6) as pool:
            for response in pool.map(client.get, calls):
                response.raise_for_status()
        concurrent = time.perf_counter() - started
    return concurrent, sequential


def viewer_session(browser: Any, base: str, admin_token: str) -> dict[str, Any]:
    """A viewer's signed-in browser state (access control is on, as a user runs it): a person
    credential made by the administrator, entered once on the sign-in page."""
    answer = httpx.post(
        f"{base}/v1/admin/credentials",
        json={"kind": "person", "name": "dashboard bench", "role": "viewer"},
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=60,
    )
    answer.raise_for_status()
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/signin")
    page.fill("#t", answer.json()["token"])
    page.click("button")
    page.wait_for_url(f"{base}/")
    state: dict[str, Any] = context.storage_state()
    context.close()
    return state


def run(quick: bool = False, rounds: int = 5) -> dict[str, Any]:
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    from dashboard_city import build_city
    from harness import ADMIN_TOKEN, platform_settings, tansu, thread_platform
    from playwright.sync_api import sync_playwright

    from models.rules import DbtRules, QualityRules

    days = 21  # quick: two windows of three weeks; else two whole years
    tmp = Path(tempfile.mkdtemp(prefix="bloodtrace-dashboard-bench-"))
    with tansu(tmp / "broker") as bootstrap:
        settings = platform_settings(
            tmp,
            bootstrap,
            warehouse_database="bench_dashboard",
            dbt=DbtRules(schedule_seconds=0),
            quality=QualityRules(schedule_seconds=0),
        )
        started = time.perf_counter()
        print(f"building the city ({'2 x 21 days' if quick else '2 years'}), marts, quality")
        late = build_city(settings, year=2025, days=days, streamed_days=0, full_years=not quick)
        build_seconds = time.perf_counter() - started
        assert not late
        with thread_platform(settings) as platform:
            base = platform.url
            options = httpx.get(
                f"{base}/v1/marts/options",
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                timeout=60,
            ).json()
            calls = page_calls(options)
            api_concurrent, api_sequential, page_ms, page_js_ms = [], [], [], []
            panels_ms: dict[str, int] = {}
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM,
                    args=[
                        "--no-sandbox",
                        "--disable-background-networking",
                        "--disable-component-update",
                        "--disable-sync",
                        "--no-first-run",
                    ],
                )
                signed_in = viewer_session(browser, base, ADMIN_TOKEN)
                for i in range(rounds + 1):  # the first round warms the warehouse's caches
                    concurrent, sequential = time_api(base, calls, ADMIN_TOKEN)
                    context = browser.new_context(  # the session cookie only: nothing cached
                        viewport={"width": 1600, "height": 1000},
                        storage_state=cast("StorageState", signed_in),
                    )
                    page = context.new_page()
                    page.goto(f"{base}/")
                    page.wait_for_function("document.body.dataset.ready === '1'", timeout=120_000)
                    render = page.evaluate("window.dashboardRender")
                    context.close()
                    if i == 0:
                        continue
                    api_concurrent.append(concurrent * 1000)
                    api_sequential.append(sequential * 1000)
                    page_ms.append(float(render["sinceNavigation"]))
                    page_js_ms.append(float(render["ms"]))
                    panels_ms = render.get("panels", {})
                browser.close()
    median = statistics.median
    result = {
        "city": "small preset",
        "history": "2 x 21 days" if quick else "2 whole years",
        "years": options["years"],
        "build_seconds": round(build_seconds, 1),
        "rounds": rounds,
        "api_calls": len(calls),
        "api_concurrent_ms_median": round(median(api_concurrent)),
        "api_sequential_ms_median": round(median(api_sequential)),
        "page_first_complete_render_ms_median": round(median(page_ms)),
        "page_data_and_draw_ms_median": round(median(page_js_ms)),
        "page_ms_all": [round(v) for v in page_ms],
        "page_script_start_ms_median": round(
            median([p - j for p, j in zip(page_ms, page_js_ms, strict=True)])
        ),
        "panels_done_ms_last_round": panels_ms,
        "ratio_page_to_api": round(median(page_ms) / median(api_concurrent), 2),
        "aim_ms": 1000,
        "aim_met": median(page_ms) <= 1000,
        "load_average": os.getloadavg()[0],
    }
    print(
        f"first complete render {result['page_first_complete_render_ms_median']} ms "
        f"(aim 1000) vs its {len(calls)} API calls alone "
        f"{result['api_concurrent_ms_median']} ms concurrent / "
        f"{result['api_sequential_ms_median']} ms one by one",
        flush=True,
    )
    return result
