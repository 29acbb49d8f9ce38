"""JSON Schemas of the event contracts, generated from the models."""

from __future__ import annotations

from typing import Any

from models.events import ENVELOPES, EVENT_ADAPTER


def event_schemas() -> dict[str, dict[str, Any]]:
    """One schema per event type (``donation.collected.schema.json``…) and ``event`` for all."""
    schemas: dict[str, dict[str, Any]] = {}
    for name, model in ENVELOPES.items():
        document = model.model_json_schema()
        document["$id"] = f"https://bloodtrace.invalid/schemas/{name}.schema.json"
        document["description"] = (
            f"Bloodtrace event '{name}'. DINs carry their MOD 37-2 check character; donor and "
            "recipient ids are pseudonyms (ps_ + 32 hex)."
        )
        schemas[name] = document
    schemas["event"] = EVENT_ADAPTER.json_schema()
    return schemas
