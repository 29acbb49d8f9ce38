"""POST /v1/events: a batch of events, answered per event."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from pydantic import BaseModel

from api.deps import platform

router = APIRouter(tags=["ingest"])
MAX_BATCH = 10_000


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


@router.post("/v1/events", response_model=BatchOutcome)
def post_events(
    events: list[Any] = Body(
        ...,
        description="A JSON array of events (see the JSON Schemas from `bloodtrace schema`). "
        "Raw national ID numbers may be sent as payload.donor_national_id or "
        "recipient_national_id: they are pseudonymised before anything is stored.",
        max_length=MAX_BATCH,
    ),
) -> BatchOutcome:
    """Accept a batch. Each event is accepted (confirmed by the broker, acks=all) or rejected
    with a reason; rejected events are kept in rejected_events too. Answers only after the
    broker confirmed every accepted event."""
    outcomes = platform().ingest(events)
    results = [EventOutcome(**o.to_dict()) for o in outcomes]
    accepted = sum(1 for o in outcomes if o.accepted)
    return BatchOutcome(accepted=accepted, rejected=len(outcomes) - accepted, results=results)
