"""Data quality over HTTP: run the checks, read findings, runs and the wastage summary.

The platform owns the embedded warehouse, so `bloodtrace quality …` comes here while it runs.
Plain ``def`` endpoints: FastAPI runs them in its thread pool, off the event loop.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from infra.settings import Settings

router = APIRouter(prefix="/v1/quality", tags=["quality"])


def quality_settings() -> Settings:
    """The running platform's settings (overridable in tests)."""
    from api.deps import platform

    return platform().settings


class RunRequest(BaseModel):
    since: datetime | None = None  # check events that occurred since (else: new data only)
    all: bool = False  # check everything


@router.post("/runs")
def create_run(
    body: RunRequest | None = None, settings: Settings = Depends(quality_settings)
) -> dict[str, Any]:
    """Run every suite now; the run, its checks and its first 50 findings."""
    from expectations.runner import run_quality

    request = body or RunRequest()
    since = request.since
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return run_quality(settings, since, request.all).to_dict(findings=50)


@router.get("/runs")
def list_runs(
    limit: int = Query(20, ge=1, le=1000), settings: Settings = Depends(quality_settings)
) -> dict[str, Any]:
    """The latest runs with their windows and findings by severity, latest first."""
    from expectations import store
    from infra.warehouse import thread_client, translated

    with translated(settings):
        return {"runs": store.list_runs(thread_client(settings), limit=limit)}


@router.get("/findings")
def list_findings(
    run_id: str | None = None,
    severity: Literal["critical", "warning", "info"] | None = None,
    check: str | None = None,
    din: str | None = None,
    limit: int = Query(100, ge=1, le=10000),
    settings: Settings = Depends(quality_settings),
) -> dict[str, Any]:
    """A run's findings (the latest run when none is named), gravest first."""
    from expectations import store
    from infra.warehouse import thread_client, translated

    with translated(settings):
        rows = store.list_findings(
            thread_client(settings),
            run_id=run_id,
            severity=severity,
            check=check,
            din=din,
            limit=limit,
        )
    return {"run_id": rows[0]["run_id"] if rows else run_id, "findings": rows}


@router.get("/summary")
def summary(settings: Settings = Depends(quality_settings)) -> dict[str, Any]:
    """Wastage by cause and the latest run's findings by severity."""
    from expectations.runner import quality_summary

    return quality_summary(settings)


@router.get("/suites")
def suites(settings: Settings = Depends(quality_settings)) -> list[dict[str, Any]]:
    """Every suite and check with its severity and GX expectation."""
    from expectations.runner import describe_suites

    return describe_suites(settings)
