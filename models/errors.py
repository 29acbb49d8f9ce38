"""Bloodtrace's one exception tree.

Every error the platform raises on purpose is a :class:`BloodtraceError`. Lower-level errors
(librdkafka, clickhouse-connect, chDB, pydantic, httpx) are translated at the boundary with
``raise ... from exc`` so callers only ever catch these::

    BloodtraceError                      message, hint, fields, transient
    ├── ConfigError                      a setting is missing or wrong (terminal)
    │   └── InvalidSettings              a value that cannot be right (also a ValueError)
    ├── BrokerError
    │   ├── BrokerUnavailable            no broker answers at the address (transient)
    │   └── DeliveryFailed               the broker did not confirm an event (transient)
    ├── WarehouseError
    │   ├── WarehouseUnavailable         the warehouse did not answer (transient)
    │   ├── WarehouseBusy                overloaded: too many parts, memory, timeouts (transient)
    │   ├── WarehouseQueryFailed         a statement was refused: syntax, unknown table, types
    │   ├── WarehouseLocked              another process owns the chDB path (terminal)
    │   └── MigrationFailed              a schema migration failed (terminal)
    ├── EventRejected                    an event breaks its contract (terminal, has a reason code)
    ├── InvalidIdentifier                a DIN, product code or ABO/RhD code is malformed (terminal)
    ├── NotFound                         an asked-for unit, donor, recipient or lookback is unknown
    ├── PlatformNotRunning               the platform's HTTP API does not answer (transient)
    └── DataDirInUse                     another platform or command holds the data directory

``transient`` tells a caller whether the same call may succeed later (retry) or never will (fix
the input or the configuration). ``hint`` says what to do. ``fields`` carries structured detail
for logs and JSON output. The CLI prints ``message`` and ``hint`` and exits with ``exit_code``;
the HTTP API answers with ``http_status``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from models.privacy import mask_json, mask_national_ids

# An error's text is shown to people and logged: long echoes of the input are cut here.
MAX_DETAIL_CHARS = 1000


class BloodtraceError(Exception):
    """Base of every error the platform raises on purpose."""

    transient: ClassVar[bool] = False
    exit_code: ClassVar[int] = 1
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, *, hint: str | None = None, **fields: Any) -> None:
        # Messages often quote the input; a national ID number in it never leaves masked-free.
        message = mask_national_ids(message)
        super().__init__(message)
        self.message = message
        self.hint = mask_national_ids(hint) if hint else hint
        self.fields = fields

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"error": type(self).__name__, "message": self.message}
        if self.hint:
            data["hint"] = self.hint
        if self.fields:
            data["fields"] = mask_json({k: _jsonable(v) for k, v in self.fields.items()})
        data["transient"] = self.transient
        return data

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


class ConfigError(BloodtraceError):
    exit_code = 2


class InvalidSettings(ConfigError, ValueError):
    """Settings refused when they load, naming each variable and what it allows. Also a
    ValueError, as pydantic's own validation errors are, for code that catches those."""


class BrokerError(BloodtraceError):
    http_status = 503


class BrokerUnavailable(BrokerError):
    transient = True
    exit_code = 3


class DeliveryFailed(BrokerError):
    transient = True
    exit_code = 3


class WarehouseError(BloodtraceError):
    http_status = 503


class WarehouseUnavailable(WarehouseError):
    transient = True
    exit_code = 3


class WarehouseBusy(WarehouseError):
    """The warehouse answered but cannot take the work now (too many parts, memory, timeouts)."""

    transient = True
    exit_code = 3


class WarehouseQueryFailed(WarehouseError):
    """The warehouse refused a statement (syntax, unknown table, wrong types): a retry cannot
    help, so it is a fault of the caller or of the schema."""

    http_status = 500


class WarehouseLocked(WarehouseError):
    exit_code = 3


class MigrationFailed(WarehouseError):
    exit_code = 3


class EventRejected(BloodtraceError):
    """An event breaks its contract. ``reason`` is a stable machine code, ``detail`` prose."""

    http_status = 422

    def __init__(self, reason: str, detail: str, **fields: Any) -> None:
        detail = mask_national_ids(_cut(mask_national_ids(detail)))
        super().__init__(f"{reason}: {detail}", **fields)
        self.reason = reason
        self.detail = detail

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "detail": self.detail, **super().to_dict()}


def _cut(text: str) -> str:
    if len(text) <= MAX_DETAIL_CHARS:
        return text
    return f"{text[:MAX_DETAIL_CHARS]}... ({len(text)} characters)"


class InvalidIdentifier(BloodtraceError):
    http_status = 422


class NotFound(BloodtraceError):
    http_status = 404


class PlatformNotRunning(BloodtraceError):
    transient = True
    exit_code = 3
    http_status = 503


class DataDirInUse(BloodtraceError):
    """Another process holds <data_dir>/run/platform.lock (infra/runlock.py)."""

    exit_code = 4
    http_status = 409
