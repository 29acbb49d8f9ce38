"""Turn raw bytes into a validated event, or an :class:`EventRejected` with a stable reason.

Used at every edge (SDK, HTTP, file import) and again in the stream, so an event refused
anywhere is refused for the same reason everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError

from infra.errors import EventRejected
from models.events import CURRENT_SCHEMA_VERSION, EVENT_ADAPTER, EVENT_TYPES, EnvelopeBase
from models.rules import IngestRules

# Stable reason codes, as stored in rejected_events.reason and counted in /metrics.
REASONS: dict[str, str] = {
    "malformed_json": "the bytes are not a JSON object",
    "oversized": "the event is larger than the configured maximum",
    "unknown_type": "the type is not one of the known event types",
    "missing_field": "a required field is missing",
    "invalid_field": "a field has the wrong type or value",
    "bad_din_check": "a DIN's check character does not match (MOD 37-2)",
    "not_pseudonymised": "a donor or recipient identity is not a pseudonym",
    "future_timestamp": "occurred_at is further in the future than allowed",
    "unsupported_schema_version": "the schema version is newer than this platform knows",
}


def _reason_for(exc: ValidationError) -> tuple[str, str]:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = ".".join(str(p) for p in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    for err in errors:
        msg = str(err["msg"])
        if "din_check" in msg:
            return "bad_din_check", f"{'.'.join(str(p) for p in err['loc'])}: {_tail(msg)}"
        if "not_pseudonymised" in msg:
            return "not_pseudonymised", f"{'.'.join(str(p) for p in err['loc'])}: {_tail(msg)}"
    kinds = {err["type"] for err in errors}
    if "union_tag_invalid" in kinds or "union_tag_not_found" in kinds:
        return "unknown_type", f"type must be one of: {', '.join(EVENT_TYPES)}"
    if kinds == {"missing"}:
        missing = ", ".join(".".join(str(p) for p in e["loc"]) for e in errors)
        return "missing_field", f"missing: {missing}"
    detail = f"{loc}: {message}"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more)"
    return "invalid_field", detail


def _tail(msg: str) -> str:
    return msg.split(": ", 1)[-1] if ": " in msg else msg


def parse_event(
    raw: bytes | str | dict[str, Any],
    *,
    rules: IngestRules | None = None,
    now: datetime | None = None,
) -> EnvelopeBase:
    """Validate one event. Raises :class:`EventRejected` (``reason`` from :data:`REASONS`)."""
    rules = rules or IngestRules()
    if isinstance(raw, dict):
        obj: Any = raw
        size = len(orjson.dumps(raw))
    else:
        data = raw.encode() if isinstance(raw, str) else raw
        size = len(data)
        if size > rules.max_event_bytes:
            raise EventRejected(
                "oversized", f"{size} bytes; the maximum is {rules.max_event_bytes}", size=size
            )
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise EventRejected("malformed_json", str(exc)) from exc
    if size > rules.max_event_bytes:
        raise EventRejected(
            "oversized", f"{size} bytes; the maximum is {rules.max_event_bytes}", size=size
        )
    if not isinstance(obj, dict):
        raise EventRejected("malformed_json", f"expected a JSON object, got {type(obj).__name__}")
    version = obj.get("schema_version")
    if isinstance(version, int) and version > CURRENT_SCHEMA_VERSION:
        raise EventRejected(
            "unsupported_schema_version",
            f"schema_version {version}; this platform knows up to {CURRENT_SCHEMA_VERSION}",
        )
    try:
        event: EnvelopeBase = EVENT_ADAPTER.validate_python(obj)
    except ValidationError as exc:
        reason, detail = _reason_for(exc)
        raise EventRejected(reason, detail) from exc
    now = now or datetime.now(UTC)
    if event.occurred_at > now + timedelta(seconds=rules.max_future_skew_seconds):
        raise EventRejected(
            "future_timestamp",
            f"occurred_at {event.occurred_at.isoformat()} is more than "
            f"{rules.max_future_skew_seconds} s after now ({now.isoformat()})",
        )
    return event
