"""The error answers of the HTTP API in its OpenAPI description.

Every refusal and failure answers ``{"detail": {error, message, hint?, fields?, transient}}``
(infra.errors.BloodtraceError.to_dict, api.app.validation_answer). document_errors adds the
statuses every route may answer to each route's OpenAPI responses, so the spec describes the
API whole; the fuzz run (tests/integration/test_fuzz_api.py) holds the API to it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict

from api.auth import rule_for


class ErrorDetail(BaseModel):
    """What every refusal and failure answers (BloodtraceError.to_dict, validation_answer)."""

    model_config = ConfigDict(extra="allow")  # e.g. a validation answer's "errors"
    error: str
    message: str
    hint: str | None = None
    fields: dict[str, Any] | None = None
    transient: bool


class ErrorAnswer(BaseModel):
    detail: ErrorDetail


def error_response(description: str) -> dict[str, Any]:
    return {"model": ErrorAnswer, "description": description}


# The answers every route may give besides its own (documented in the OpenAPI, which the fuzz
# run in tests/integration/test_fuzz_api.py holds the API to).
REFUSALS: dict[int | str, dict[str, Any]] = {
    401: error_response("No credential, or an unknown, revoked or wrong one (api/auth.py)."),
    403: error_response("The credential's role (or facility) may not do this."),
    429: error_response("Over the credential's rate limit, or locked out after failed sign-ins."),
}
FAILURES: dict[int | str, dict[str, Any]] = {
    404: error_response("Not found: an unknown name or id, or the marts not built yet."),
    422: error_response("The request does not match what the endpoint takes."),
    503: error_response("The warehouse or the broker is unavailable: retry after Retry-After."),
}


def document_errors(router: APIRouter) -> None:
    """Add the shared error answers to each of the router's routes' OpenAPI responses (a
    route's own description of a status wins). Open routes (api.auth PUBLIC) are never
    refused."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        shared = dict(FAILURES)
        if any(
            not (rule := rule_for(m, route.path)) or not rule.public for m in route.methods or ()
        ):
            shared |= REFUSALS
        route.responses = {**shared, **route.responses}
