"""Reach the running platform's HTTP API, or work on the warehouse directly when none runs.

In embedded mode one process owns the chDB directory, so while `bloodtrace serve` runs every
other command must go through its HTTP API; when it is not running, a command may open the
warehouse itself. Each command calls the same service function on either path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from infra import errors
from infra.errors import BloodtraceError, PlatformNotRunning
from infra.settings import Settings

if TYPE_CHECKING:
    from infra.warehouse import WarehouseClient


def _error_class(name: object) -> type[BloodtraceError]:
    """The error class the API named (so the CLI exits with its code), else the base."""
    found = getattr(errors, str(name), None)
    if isinstance(found, type) and issubclass(found, BloodtraceError):
        return found
    return BloodtraceError


def platform_is_up(settings: Settings, timeout: float = 0.5) -> bool:
    """Whether a platform answers at the API address, healthy or degraded: one whose warehouse
    is down (/health 503) still runs, and still owns an embedded warehouse."""
    try:
        status = httpx.get(f"{settings.api_base_url}/health", timeout=timeout).status_code
    except httpx.HTTPError:
        return False
    return status < 500 or status == 503


def api_call(
    settings: Settings,
    method: str,
    path: str,
    *,
    timeout: float = 60.0,
    **kwargs: Any,
) -> Any:
    """Call the platform API and return the JSON body; API errors become BloodtraceErrors."""
    url = f"{settings.api_base_url}{path}"
    token = settings.cli_token()
    if token:  # from configuration or a file; without one the platform answers 401
        kwargs["headers"] = {"Authorization": f"Bearer {token}"} | dict(kwargs.get("headers") or {})
    try:
        response = httpx.request(method, url, timeout=timeout, **kwargs)
    except httpx.HTTPError as exc:
        raise PlatformNotRunning(
            f"The platform API at {settings.api_base_url} does not answer ({exc}).",
            hint="Start it with `bloodtrace serve` (or set BLOODTRACE_API_URL).",
        ) from exc
    try:
        body = response.json() if response.content else None
    except ValueError:  # not JSON (a proxy's error page, a crash): report it, no traceback
        body = response.text[:300]
    if response.status_code >= 400:
        detail = body.get("detail", body) if isinstance(body, dict) else body
        if isinstance(detail, dict) and "message" in detail:
            cls = _error_class(detail.get("error"))
            if cls is errors.EventRejected:
                cls = BloodtraceError  # its constructor takes a reason code, not a message
            raise cls(str(detail["message"]), hint=detail.get("hint"))
        raise BloodtraceError(f"The platform answered {response.status_code}: {detail}")
    return body


def open_warehouse(settings: Settings) -> WarehouseClient:
    """The warehouse opened in this process (no platform owns it), migrated."""
    from infra.warehouse import connect, migrate  # the warehouse driver loads only when needed

    client = connect(settings)
    migrate(client)
    return client


def platform_or_warehouse(
    settings: Settings,
    path: str,
    service: Callable[[WarehouseClient], Any],
    *,
    method: str = "GET",
    timeout: float = 60.0,
    **request: Any,
) -> Any:
    """Ask the platform's API if it runs (``request``: httpx's params, json, headers), else
    answer with ``service`` on the warehouse opened here: one service, two paths."""
    if platform_is_up(settings):
        return api_call(settings, method, path, timeout=timeout, **request)
    return service(open_warehouse(settings))
