"""dbt over HTTP: `POST /v1/dbt/{command}` runs a dbt command on the platform's warehouse.

While the platform runs it owns the embedded warehouse, so `bloodtrace dbt ...` comes here.
A plain ``def`` endpoint: FastAPI runs it in its thread pool, off the event loop; dbt runs are
serialised by infra.dbt_runner (one at a time per process).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from infra.errors import ConfigError
from infra.settings import Settings

router = APIRouter(prefix="/v1/dbt", tags=["dbt"])


def dbt_settings() -> Settings:
    """The running platform's settings (overridable in tests)."""
    from api.deps import platform

    return platform().settings


class DbtRequest(BaseModel):
    args: list[str] = Field(
        default_factory=list,
        description='The rest of the dbt command line, e.g. ["--select", "marts"] for build, '
        '["generate"] for docs.',
        max_length=200,
    )


@router.post("/{command}")
def run_command(
    command: str,
    body: DbtRequest | None = None,
    settings: Settings = Depends(dbt_settings),
) -> Any:
    """Run `dbt <command> <args...>` (build, run, test, seed, docs, source, ls, ...) and answer
    with the result: success, per-node status and timings. 200 whether or not models and tests
    passed (see `success`); 422 for a command or project dbt cannot run; 503 when the
    warehouse does not answer."""
    from infra.dbt_runner import run_dbt

    args = [command, *(body.args if body else [])]
    try:
        return run_dbt(settings, args, quiet=True).to_dict()
    except ConfigError as exc:
        return JSONResponse(status_code=422, content={"detail": exc.to_dict()})
