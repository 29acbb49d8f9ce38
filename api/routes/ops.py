"""Operators' endpoints: health and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import platform

router = APIRouter(tags=["operations"])


@router.get("/health")
def health() -> JSONResponse:
    """Broker, warehouse and worker: 200 when all are up, 503 otherwise."""
    report = platform().health()
    return JSONResponse(status_code=200 if report["status"] == "ok" else 503, content=report)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
def metrics() -> Response:
    """Prometheus text format."""
    p = platform()
    p.ctx.update_lag()
    return Response(generate_latest(p.ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/status")
def status() -> dict[str, Any]:
    """Everything `bloodtrace status` prints, as JSON."""
    return platform().status()


@router.post("/v1/jobs/{name}")
def run_job(name: str) -> dict[str, Any]:
    """Run a scheduled job (quality, dbt) now and return its result."""
    from infra.errors import NotFound

    try:
        return platform().run_job(name)
    except KeyError as exc:
        raise NotFound(f"No job named {name!r}.", hint="Jobs: quality, dbt.") from exc
