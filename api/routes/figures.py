"""The speech's figures: `GET /v1/figures?year=Y&baseline=B` (dbt mart speech_figures_by_year).

A plain ``def`` endpoint: FastAPI runs it in its thread pool, off the event loop.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query

from infra.errors import ConfigError
from infra.figures import figures_report
from infra.settings import Settings
from infra.warehouse import thread_client

router = APIRouter(tags=["figures"])


def figures_settings() -> Settings:
    """The running platform's settings (overridable in tests)."""
    from api.deps import platform

    return platform().settings


@router.get("/v1/figures")
def get_figures(
    year: int | None = Query(None, ge=1900, le=2200, description="Default: latest with data."),
    baseline: int | None = Query(
        None, ge=1900, le=2200, description="Default: year less dbt baseline_years_back (4)."
    ),
    settings: Settings = Depends(figures_settings),
) -> dict[str, Any]:
    """The figures the leadership speech leaves blank (clinical use and collection growth,
    students' and employees' shares then and now, eligible residents who ever donated, units
    discarded for storage and failed tests), in Chinese and English. 404 when the marts are
    not built or the year has no data; 422 when the baseline is not before the year."""
    try:
        return figures_report(thread_client(settings), settings, year=year, baseline=baseline)
    except ConfigError as exc:  # a bad pair of years is the request's fault, not the server's
        raise HTTPException(status_code=422, detail=exc.to_dict()) from exc
