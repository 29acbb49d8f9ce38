"""The HTTP API, co-hosted in the platform process (FastAPI on the Faust worker's loop).

Routers live in api/routes/, one module per concern, each exposing ``router``; register a new
one in ROUTERS. Endpoints that touch the warehouse are plain ``def`` functions so FastAPI runs
them in its thread pool: chDB calls block and must stay off the event loop.

Every error answer is short JSON ``{"detail": {...}}`` that names the problem and where, never
echoes the request, and holds no national ID number (see models.privacy).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.auth import authorize
from api.errors_doc import document_errors
from infra.errors import BloodtraceError
from models.privacy import mask_json, mask_short

log = logging.getLogger("bloodtrace.api")

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
    "api.routes.supply",
    "api.routes.figures",
    "api.routes.marts",
    "api.routes.alerts",
    "api.routes.dashboard",
    "api.routes.admin",
    "api.routes.session",
]
# How many of a request's validation errors an answer lists.
MAX_ERRORS_SHOWN = 10


def validation_answer(exc: RequestValidationError) -> dict[str, Any]:
    """What is wrong and where, without the input FastAPI would echo (all of it, however big)."""
    errors = exc.errors()
    shown = [
        {
            "loc": [p if isinstance(p, int) else mask_short(str(p), 100) for p in e["loc"]],
            "msg": mask_short(str(e["msg"]), 300),
            "type": str(e["type"]),
        }
        for e in errors[:MAX_ERRORS_SHOWN]
    ]
    return {
        "error": "InvalidRequest",
        "message": f"the request does not match what this endpoint takes ({len(errors)} "
        f"problem{'s' if len(errors) != 1 else ''})",
        "errors": shown,
        "transient": False,
    }


def create_api(lifespan: Callable[..., Any] | None = None) -> FastAPI:
    api = FastAPI(
        title="Bloodtrace",
        version="0.1.0",
        description="Vein-to-vein blood traceability: ingest, trace, inventory, quality.",
        lifespan=lifespan,
        # Every route's caller is checked against api.auth.ACCESS (deny by default).
        dependencies=[Depends(authorize)],
        # /docs is served by api.routes.dashboard from local files (FastAPI's loads a CDN).
        docs_url=None,
        redoc_url=None,
    )

    @api.exception_handler(BloodtraceError)
    async def _bloodtrace_error(_: Request, exc: BloodtraceError) -> JSONResponse:
        # A transient fault (warehouse or broker down) says when to come back.
        headers = {"Retry-After": "5"} if exc.transient else None
        return JSONResponse(
            status_code=exc.http_status, content={"detail": exc.to_dict()}, headers=headers
        )

    @api.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": validation_answer(exc)})

    @api.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        detail = {
            "error": "InternalError",
            "message": "The platform failed unexpectedly on this request; it was logged.",
            "transient": False,
        }
        return JSONResponse(status_code=500, content={"detail": mask_json(detail)})

    for module_name in ROUTERS:
        module = importlib.import_module(module_name)
        document_errors(module.router)
        api.include_router(module.router)
    from api.routes.dashboard import mount_static

    mount_static(api)
    return api
