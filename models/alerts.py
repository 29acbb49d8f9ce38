"""Alerts: a rule broken by events, with its evidence, in words a person can act on.

Processors send alerts to the alerts topic (``PlatformContext.raise_alerts``); the platform
stores every one in the ``alerts`` table. ``alert_id`` is deterministic (rule + subject +
evidence key), so an alert raised again after a replay is recognisable as the same alert.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

Severity = Literal["info", "warning", "critical"]


class Alert(BaseModel):
    rule: str
    severity: Severity = "warning"
    subject: str  # what the alert is about: a DIN, an equipment id, a donor pseudonym...
    message_en: str
    message_zh: str
    raised_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    occurred_at: datetime | None = None  # when the breaking event happened
    din: str = ""
    product_code: str = ""
    facility_id: str = ""
    equipment_id: str = ""
    donor_id: str = ""
    evidence: dict[str, Any] = Field(default_factory=dict)
    dedup_key: str = ""  # what makes two raises the same alert, besides rule and subject

    @property
    def alert_id(self) -> str:
        text = f"{self.rule}|{self.subject}|{self.dedup_key}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def to_record(self) -> bytes:
        data = self.model_dump(mode="json")
        data["alert_id"] = self.alert_id
        return orjson.dumps(data)


ALERT_COLUMNS = (
    "alert_id",
    "rule",
    "severity",
    "subject",
    "message_en",
    "message_zh",
    "raised_at",
    "occurred_at",
    "din",
    "product_code",
    "facility_id",
    "equipment_id",
    "donor_id",
    "evidence",
    "src_partition",
    "src_offset",
)


def alert_row(record: bytes, partition: int, offset: int) -> tuple[Any, ...]:
    data = orjson.loads(record)
    alert = Alert.model_validate(data)
    return (
        alert.alert_id,
        alert.rule,
        alert.severity,
        alert.subject,
        alert.message_en,
        alert.message_zh,
        alert.raised_at,
        alert.occurred_at or alert.raised_at,
        alert.din,
        alert.product_code,
        alert.facility_id,
        alert.equipment_id,
        alert.donor_id,
        orjson.dumps(alert.evidence).decode(),
        partition,
        offset,
    )
