"""Turn raw bytes into a validated event, or an :class:`EventRejected` with a stable reason.

Used at every edge (SDK, HTTP, file import) and again in the stream, so an event refused
anywhere is refused for the same reason everywhere.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError

from models.errors import EventRejected
from models.events import CURRENT_SCHEMA_VERSION, EVENT_ADAPTER, EVENT_TYPES, EnvelopeBase
from models.privacy import deeper_than, find_national_id, may_hold_national_id
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
    "too_deep": "lists and objects nest deeper than the configured maximum",
    "duplicate_key": "an object names the same key twice (readers would disagree on its value)",
    "national_id": "a field holds a national ID number; send it as donor_national_id or "
    "recipient_national_id (pseudonymised at the edge), never in another field",
    # Refusals of a whole HTTP request (POST /v1/events), kept in rejected_events too.
    "batch_too_large": "the request holds more events than the configured maximum",
    "not_a_batch": "the request body is not a JSON array of events",
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


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise EventRejected("duplicate_key", f"the key {key[:80]!r} appears twice in an object")
        seen[key] = value
    return seen


def check_duplicate_keys(data: bytes, obj: Any) -> None:
    r"""Raise ``duplicate_key`` if any object in the JSON ``data`` (parsed as ``obj``) repeats a
    key. A parser keeps one of the values silently, so another reader of the same bytes might
    see the other one.

    Fast path (C only): with whitespace dropped, each key ends in ``":``, and so does each quote
    followed by a colon inside a string. ``obj`` written back compactly has the same string
    contents and one such end per key it kept, so equal counts mean no key was dropped. A
    ``\u`` escape can hide a quote or colon from the first count: then, or when the counts
    differ, the text is parsed again key by key.
    """
    compact = data.translate(None, b" \t\n\r")
    try:
        kept = orjson.dumps(obj).count(b'":')
    except orjson.JSONEncodeError:
        kept = -1
    if b"\\u" not in compact and compact.count(b'":') == kept:
        return
    try:
        json.loads(data, object_pairs_hook=_refuse_duplicates)
    except (ValueError, RecursionError):  # not JSON to this parser: orjson already judged it
        return


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
        if deeper_than(raw, rules.max_json_depth):
            raise _too_deep(rules)
        try:
            data = orjson.dumps(raw)
        except orjson.JSONEncodeError as exc:
            raise EventRejected("invalid_field", f"not JSON: {exc}") from exc
        size = len(data)
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
            if "depth limit" in str(exc) or "recursion" in str(exc):
                raise _too_deep(rules) from exc
            raise EventRejected("malformed_json", str(exc)) from exc
    if size > rules.max_event_bytes:
        raise EventRejected(
            "oversized", f"{size} bytes; the maximum is {rules.max_event_bytes}", size=size
        )
    if not isinstance(obj, dict):
        raise EventRejected("malformed_json", f"expected a JSON object, got {type(obj).__name__}")
    version = obj.get("schema_version")
    if type(version) is int and version > CURRENT_SCHEMA_VERSION:
        raise EventRejected(
            "unsupported_schema_version",
            f"schema_version {version}; this platform knows up to {CURRENT_SCHEMA_VERSION}",
        )
    try:
        event: EnvelopeBase = EVENT_ADAPTER.validate_python(obj)
    except ValidationError as exc:
        if deeper_than(obj, rules.max_json_depth):  # a valid event never nests deep
            raise _too_deep(rules) from exc
        reason, detail = _reason_for(exc)
        raise EventRejected(reason, detail) from exc
    # Checks a valid event still has to pass (cheap when it does).
    if not isinstance(raw, dict):
        check_duplicate_keys(data, obj)
    if may_hold_national_id(data):
        where = find_national_id(obj)
        if where is not None:
            raise EventRejected(
                "national_id",
                f"{where} holds a national ID number; only pseudonyms may be sent "
                "(payload.donor_national_id / recipient_national_id are pseudonymised by the SDK)",
            )
    now = now or datetime.now(UTC)
    if event.occurred_at > now + timedelta(seconds=rules.max_future_skew_seconds):
        raise EventRejected(
            "future_timestamp",
            f"occurred_at {event.occurred_at.isoformat()} is more than "
            f"{rules.max_future_skew_seconds} s after now ({now.isoformat()})",
        )
    return event


def _too_deep(rules: IngestRules) -> EventRejected:
    return EventRejected(
        "too_deep", f"lists and objects nest more than {rules.max_json_depth} levels deep"
    )
