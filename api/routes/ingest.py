"""POST /v1/events: a batch of events, answered per event.

The body is read here, not by FastAPI: a request too large, not JSON, nested too deep or
repeating a key is refused whole with a short JSON reason (400/413/422, never the input echoed
back) and kept in rejected_events like any refused event (cut to a limit, with its full size
and SHA-256). What passes is answered per event.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.auth import principal_of
from api.deps import platform
from api.errors_doc import error_response
from infra.auth import Principal, Role
from infra.errors import EventRejected
from models.privacy import deeper_than
from models.rules import IngestRules
from models.validation import check_duplicate_keys
from sdk.producer import dead_letter_record

router = APIRouter(tags=["ingest"])
# Past this many times the request limit, a body is not read on (its size is then a lower
# bound, its hash unknown): refusing must not cost unbounded time.
READ_ON_FACTOR = 64


class EventOutcome(BaseModel):
    index: int
    accepted: bool
    event_id: str | None
    reason: str | None = None
    detail: str | None = None


class BatchOutcome(BaseModel):
    accepted: int
    rejected: int
    results: list[EventOutcome]


@dataclass
class Body:
    data: bytes | None  # None when over the limit
    head: bytes  # the first bytes, kept if the request is refused
    size: int
    sha256: str  # "" when not read to the end
    complete: bool


async def read_body(request: Request, rules: IngestRules) -> Body:
    chunks: list[bytes] | None = []
    head = b""
    size = 0
    digest = hashlib.sha256()
    read_on = rules.max_request_bytes * READ_ON_FACTOR
    async for chunk in request.stream():
        size += len(chunk)
        digest.update(chunk)
        if len(head) < rules.dead_letter_raw_bytes:
            head += chunk[: rules.dead_letter_raw_bytes - len(head)]
        if chunks is not None:
            chunks.append(chunk)
            if size > rules.max_request_bytes:
                chunks = None
        if size > read_on:
            declared = request.headers.get("content-length", "")
            total = int(declared) if declared.isdigit() else size
            return Body(None, head, max(total, size), "", False)
    data = b"".join(chunks) if chunks is not None else None
    return Body(data, head, size, digest.hexdigest(), True)


def _refusal(status: int, reason: str, detail: str, body: Body) -> JSONResponse:
    """Keep a request refused whole in rejected_events, and answer why (never the input)."""
    service = platform()
    record = dead_letter_record(
        body.head,
        reason,
        detail,
        "http",
        raw_limit=service.settings.ingest.dead_letter_raw_bytes,
        raw_size=body.size,
        raw_sha256=body.sha256,
    )
    service.keep_refused_request(record)
    error = EventRejected(reason, detail)
    return JSONResponse(status_code=status, content={"detail": error.to_dict()})


def _whole_request_problem(body: Body, rules: IngestRules) -> tuple[int, str, str] | list[Any]:
    """The events of a readable batch, or (status, reason, detail) for a request refused whole."""
    if body.data is None:
        more = "" if body.complete else " or more (not read to the end)"
        return (
            413,
            "oversized",
            f"the request has {body.size} bytes{more}; the maximum is {rules.max_request_bytes}",
        )
    if not body.data.strip():
        return 400, "malformed_json", "the body is empty; send a JSON array of events"
    try:
        events = orjson.loads(body.data)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc) or "recursion" in str(exc):
            return 422, "too_deep", f"nested more than {rules.max_json_depth} levels deep"
        return 400, "malformed_json", f"the body is not JSON: {exc}"
    if not isinstance(events, list):
        return 422, "not_a_batch", f"expected a JSON array of events, got {type(events).__name__}"
    if len(events) > rules.max_batch_events:
        return (
            413,
            "batch_too_large",
            f"{len(events)} events; the maximum is {rules.max_batch_events} per request",
        )
    if deeper_than(events, rules.max_json_depth + 1):  # +1: the batch's own array
        return 422, "too_deep", f"events nest more than {rules.max_json_depth} levels deep"
    try:
        check_duplicate_keys(body.data, events)
    except EventRejected as exc:
        return 422, exc.reason, exc.detail
    return events


def foreign_facility(events: list[Any], principal: Principal) -> str | None:
    """Why an emitter's batch is refused whole (an event for a facility not its own), or None.
    Administrators may import for any facility."""
    if principal.role is not Role.EMITTER:
        return None
    for index, event in enumerate(events):
        facility = event.get("facility_id") if isinstance(event, dict) else None
        if isinstance(facility, str) and facility != principal.facility_id:
            return (
                f"event {index} is for facility {facility[:40]!r}; credential {principal.id} "
                f"emits for {principal.facility_id!r} only"
            )
    return None


@router.post(
    "/v1/events",
    response_model=BatchOutcome,
    responses={
        400: error_response("The body is not JSON (the request is kept in rejected_events)."),
        403: error_response("An emitter's event for a facility not its own (kept too)."),
        413: error_response("Over ingest.max_request_bytes or ingest.max_batch_events."),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "array", "items": {}}}},
        }
    },
)
async def post_events(request: Request) -> Any:
    """Accept a batch: a JSON array of events (see the JSON Schemas from `bloodtrace schema`).
    Raw national ID numbers may be sent as payload.donor_national_id or recipient_national_id:
    they are pseudonymised before anything is stored; anywhere else they refuse the event.

    Each event is accepted (confirmed by the broker, acks=all) or rejected with a reason;
    rejected events are kept in rejected_events too. Answers only after the broker confirmed
    every accepted event. A request refused whole answers 400 (not JSON), 413 (over
    ingest.max_request_bytes or ingest.max_batch_events) or 422 (not an array, nested too deep,
    a key repeated), 403 (an emitter's event for a facility not its own), with the reason."""
    service = platform()
    rules = service.settings.ingest
    body = await read_body(request, rules)
    checked = _whole_request_problem(body, rules)
    if isinstance(checked, tuple):
        return await run_in_threadpool(_refusal, *checked, body)
    foreign = foreign_facility(checked, principal_of(request))
    if foreign is not None:
        return await run_in_threadpool(_refusal, 403, "facility_not_permitted", foreign, body)
    outcomes = await run_in_threadpool(service.ingest, checked)
    results = [EventOutcome(**o.to_dict()) for o in outcomes]
    accepted = sum(1 for o in outcomes if o.accepted)
    return BatchOutcome(accepted=accepted, rejected=len(outcomes) - accepted, results=results)
