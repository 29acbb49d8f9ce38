"""The exception tree, under the name the platform's layers use.

The tree itself lives in :mod:`models.errors` (documented there): the domain raises these errors
and sits below everything else, so it cannot import them from infrastructure (issue 10). This
module re-exports every class so ``from infra.errors import ...`` keeps working; add new
errors in ``models/errors.py``.
"""

from models.errors import (
    BloodtraceError,
    BrokerError,
    BrokerUnavailable,
    ConfigError,
    DataDirInUse,
    DeliveryFailed,
    EventRejected,
    InvalidIdentifier,
    InvalidSettings,
    MigrationFailed,
    NotFound,
    PlatformNotRunning,
    WarehouseBusy,
    WarehouseError,
    WarehouseLocked,
    WarehouseQueryFailed,
    WarehouseUnavailable,
)

__all__ = [
    "BloodtraceError",
    "BrokerError",
    "BrokerUnavailable",
    "ConfigError",
    "DataDirInUse",
    "DeliveryFailed",
    "EventRejected",
    "InvalidIdentifier",
    "InvalidSettings",
    "MigrationFailed",
    "NotFound",
    "PlatformNotRunning",
    "WarehouseBusy",
    "WarehouseError",
    "WarehouseLocked",
    "WarehouseQueryFailed",
    "WarehouseUnavailable",
]
