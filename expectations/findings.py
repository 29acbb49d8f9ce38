"""A finding: one failing row of one check, explained in a sentence (English and Chinese)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import pandas as pd

from expectations.checks import Check, sentence
from expectations.window import as_utc
from models.inventory import COMPONENT_NAMES_ZH

# Where a frame keeps the moment a finding is about, in order of preference.
_TIME_COLUMNS = ("occurred_at", "released_at", "discarded_at", "first_event_at", "last_event_at")
_FACILITY_COLUMNS = ("facility_id", "last_facility", "first_facility")
_NOT_EVIDENCE = {"event_id", "din", "product_code", "facility_id", "evidence", "_p", "_o"}


def _plain(value: Any) -> Any:
    """A frame value as JSON-friendly Python (timestamps as ISO text, NaN/NaT as None)."""
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return _plain(value.tolist())
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def _moment(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        return None
    return as_utc(value)


@dataclass(frozen=True)
class Finding:
    check: str
    suite: str
    table: str
    severity: str
    message_en: str
    message_zh: str
    din: str = ""
    product_code: str = ""
    event_id: str = ""
    facility_id: str = ""
    cause: str = ""
    occurred_at: datetime | None = None
    evidence: dict[str, Any] | list[Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, check: Check, row: dict[str, Any]) -> Finding:
        values = {k: _plain(v) for k, v in row.items()}
        if "evidence" in row and isinstance(row["evidence"], str):
            evidence: dict[str, Any] | list[Any] = {
                "recorded_cause": values.get("recorded_cause"),
                "derived_cause": values.get("derived_cause"),
                "evidence": orjson.loads(row["evidence"]),
            }
        else:
            evidence = {
                k: v
                for k, v in values.items()
                if k not in _NOT_EVIDENCE and not k.endswith(("_en", "_zh", "_text"))
            }
        moment = next((row[c] for c in _TIME_COLUMNS if _plain(row.get(c)) is not None), None)
        facility = next((values[c] for c in _FACILITY_COLUMNS if values.get(c)), "")
        cause = values.get("derived_cause") or values.get("recorded_cause") or ""
        return cls(
            check=check.name,
            suite=check.suite,
            table=check.table,
            severity=check.severity,
            message_en=sentence(check.en, values_for_text(row)),
            message_zh=sentence(check.zh, values_for_text(row)),
            din=str(values.get("din") or ""),
            product_code=str(values.get("product_code") or ""),
            event_id=str(values.get("event_id") or ""),
            facility_id=str(facility),
            cause=str(cause),
            occurred_at=_moment(moment),
            evidence=evidence,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "suite": self.suite,
            "table": self.table,
            "severity": self.severity,
            "din": self.din,
            "product_code": self.product_code,
            "event_id": self.event_id,
            "facility_id": self.facility_id,
            "cause": self.cause,
            "occurred_at": self.occurred_at.isoformat() if self.occurred_at else None,
            "evidence": self.evidence,
            "message_en": self.message_en,
            "message_zh": self.message_zh,
        }


def values_for_text(row: dict[str, Any]) -> dict[str, Any]:
    """Row values as a sentence shows them: timestamps as datetimes, missing as None."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, pd.Timestamp):
            out[key] = None if pd.isna(value) else value.to_pydatetime()
        else:
            out[key] = _plain(value)
    if "component_type" in out:
        out["component_type_zh"] = COMPONENT_NAMES_ZH.get(
            str(out["component_type"]), out["component_type"]
        )
    if "din" in out:  # "G123426000001 E0336V00", or the DIN alone for a whole-donation record
        out["unit"] = " ".join(str(v) for v in (out["din"], out.get("product_code")) if v)
    return out
