"""The HTTP API, co-hosted in the platform process (FastAPI on the Faust worker's loop).

Routers live in api/routes/, one module per concern, each exposing ``router``; register a new
one in ROUTERS. Endpoints that touch the warehouse are plain ``def`` functions so FastAPI runs
them in its thread pool: chDB calls block and must stay off the event loop.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from infra.errors import BloodtraceError

# Modules under api.routes, each with a `router` (fastapi.APIRouter).
ROUTERS: list[str] = [
    "api.routes.ops",
    "api.routes.ingest",
    "api.routes.quality",
    "api.routes.trace",
    "api.routes.lookback",
    "api.routes.inventory",
    "api.routes.coldchain",
    "api.routes.dbt",
    "api.routes.marts",
    "api.routes.alerts",
    "api.routes.dashboard",
]


def create_api(lifespan: Callable[..., Any] | None = None) -> FastAPI:
    api = FastAPI(
        title="Bloodtrace",
        version="0.1.0",
        description="Vein-to-vein blood traceability: ingest, trace, inventory, quality.",
        lifespan=lifespan,
        # /docs is served by api.routes.dashboard from local files (FastAPI's loads a CDN).
        docs_url=None,
        redoc_url=None,
    )

    @api.exception_handler(BloodtraceError)
    async def _bloodtrace_error(_: Request, exc: BloodtraceError) -> JSONResponse:
        return JSONResponse(status_code=exc.http_status, content={"detail": exc.to_dict()})

    for module_name in ROUTERS:
        module = importlib.import_module(module_name)
        api.include_router(module.router)
    from api.routes.dashboard import mount_static

    mount_static(api)
    return api
