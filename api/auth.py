"""Who may call which endpoint: one rule per route, checked by one app-wide dependency.

ACCESS maps (method, path template) to a rule; a route with no rule is refused to everyone
(deny by default), and tests/integration/test_access_matrix.py, generated from the app's
routes, fails until the new route is given one. Every refusal is logged (who, what, why; never
the token) and counted (bloodtrace_auth_refusals{reason}).
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import threading
import time
from dataclasses import dataclass

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from api.deps import platform
from infra.auth import LOCAL, Principal, Role
from infra.errors import BloodtraceError, Forbidden, TooManyAttempts, Unauthenticated

log = logging.getLogger("bloodtrace.auth")

A, Q, V, E = Role.ADMINISTRATOR, Role.QUALITY_OFFICER, Role.VIEWER, Role.EMITTER
READERS = frozenset({V, Q, A})
TRACERS = frozenset({Q, A})  # people's records: quality officers only (and administrators)
ADMINS = frozenset({A})
EMITTERS = frozenset({E, A})  # an administrator may import for any facility


@dataclass(frozen=True)
class Rule:
    roles: frozenset[Role] = frozenset()
    public: bool = False  # no credential: page shells and files that hold no data
    local_ops: bool = False  # open to the local interface when auth.ops_open_locally


PUBLIC = Rule(public=True)
SESSION_COOKIE = "bt_session"
CSRF_COOKIE = "bt_csrf"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
LOCAL_OPS = Rule(roles=ADMINS, local_ops=True)

ACCESS: dict[tuple[str, str], Rule] = {
    # operations
    ("GET", "/health"): LOCAL_OPS,
    ("GET", "/metrics"): LOCAL_OPS,
    ("GET", "/v1/status"): Rule(READERS),
    ("POST", "/v1/jobs/{name}"): Rule(ADMINS),
    ("POST", "/v1/dbt/{command}"): Rule(ADMINS),
    ("POST", "/v1/quality/runs"): Rule(ADMINS),
    ("POST", "/v1/inventory/rebuild"): Rule(ADMINS),
    # credentials
    ("GET", "/v1/admin/credentials"): Rule(ADMINS),
    ("POST", "/v1/admin/credentials"): Rule(ADMINS),
    ("POST", "/v1/admin/credentials/{credential_id}/rotate"): Rule(ADMINS),
    ("POST", "/v1/admin/credentials/{credential_id}/revoke"): Rule(ADMINS),
    ("GET", "/v1/admin/audit/verify"): Rule(ADMINS),
    ("GET", "/v1/whoami"): Rule(frozenset(Role)),
    # ingest
    ("POST", "/v1/events"): Rule(EMITTERS),
    # people: trace and lookback
    ("GET", "/v1/units/{din}/trace"): Rule(TRACERS),
    ("GET", "/v1/recipients/{recipient}/trace"): Rule(TRACERS),
    ("GET", "/v1/donors/{donor}/trace"): Rule(TRACERS),
    ("GET", "/v1/lookbacks"): Rule(TRACERS),
    ("GET", "/v1/lookbacks/{lookback_id}"): Rule(TRACERS),
    ("GET", "/v1/lookbacks/{lookback_id}/notices"): Rule(TRACERS),
    ("GET", "/v1/supply/recruit"): Rule(TRACERS),  # donors to call: people, not figures
    ("GET", "/v1/supply/forecast"): Rule(READERS),
    # figures, quality, inventory, dashboard: at least a viewer
    ("GET", "/v1/quality/runs"): Rule(READERS),
    ("GET", "/v1/quality/findings"): Rule(READERS),
    ("GET", "/v1/quality/summary"): Rule(READERS),
    ("GET", "/v1/quality/suites"): Rule(READERS),
    ("GET", "/v1/inventory"): Rule(READERS),
    ("GET", "/v1/inventory/expiring"): Rule(READERS),
    ("GET", "/v1/inventory/levels"): Rule(READERS),
    ("GET", "/v1/coldchain/excursions"): Rule(READERS),
    ("GET", "/v1/figures"): Rule(READERS),
    ("GET", "/v1/alerts"): Rule(READERS),
    ("GET", "/v1/alerts/summary"): Rule(READERS),
    ("GET", "/v1/findings"): Rule(READERS),
    ("GET", "/v1/dashboard/export.xlsx"): Rule(READERS),
    ("GET", "/v1/dashboard/meta"): Rule(READERS),
    **{
        ("GET", f"/v1/marts/{name}"): Rule(READERS)
        for name in (
            "options",
            "headline",
            "speech",
            "supply-demand",
            "inventory",
            "wastage",
            "donors",
            "counties",
            "counties/{county_code}",
            "campaigns",
            "tables",
            "tables/{table}",
        )
    },
    # page shells and the API description: no data in them
    ("POST", "/v1/session"): PUBLIC,  # sign-in itself (failures locked out)
    ("POST", "/v1/session/logout"): PUBLIC,
    ("GET", "/signin"): PUBLIC,
    ("GET", "/"): PUBLIC,
    ("GET", "/dashboard"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/static"): PUBLIC,
}


def rule_for(method: str, path: str) -> Rule | None:
    return ACCESS.get(("GET" if method == "HEAD" else method, path))


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def carries_credential(request: Request) -> bool:
    """Whether the request could be signed in (a bearer token or a session cookie; not checked
    here), or needs none (auth off): the dashboard page sends anyone else to /signin."""
    if not platform().settings.auth.enabled:
        return True
    return bearer_token(request) is not None or bool(request.cookies.get(SESSION_COOKIE))


def refuse(request: Request, error: BloodtraceError, reason: str, who: str) -> BloodtraceError:
    """Log and count a refusal; returns the error to raise."""
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    log.warning("refused %s %s to %s: %s (%s)", request.method, path, who, reason, error.message)
    with contextlib.suppress(BloodtraceError):  # platform stopping: the refusal is still logged
        platform().ctx.metrics.auth_refusals.labels(reason).inc()
    return error


async def authorize(request: Request) -> None:
    """The app-wide dependency: the caller's principal on request.state, or 401/403."""
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    rule = rule_for(request.method, path)
    settings = platform().settings.auth
    if not settings.enabled:
        request.state.principal = LOCAL
        return
    if rule is None:
        raise refuse(
            request,
            Forbidden(f"No access rule covers {request.method} {path}; refused to everyone."),
            "no_rule",
            "anyone",
        )
    if rule.public:
        return
    client = request.client.host if request.client else None
    if rule.local_ops and settings.ops_open_locally and _is_loopback(client):
        return
    token = bearer_token(request)
    if token is None and request.cookies.get(SESSION_COOKIE):
        # A signed-in browser: a change must echo the CSRF cookie in a header, which another
        # site's page cannot read (double submit; the cookies are SameSite=Strict as well).
        token = request.cookies[SESSION_COOKIE]
        csrf = request.cookies.get(CSRF_COOKIE, "")
        if request.method not in SAFE_METHODS and (
            not csrf or not hmac.compare_digest(request.headers.get("x-csrf-token", ""), csrf)
        ):
            raise refuse(
                request,
                Forbidden("A signed-in change needs the X-CSRF-Token header (the page sends it)."),
                "csrf",
                client or "unknown",
            )
    if token is None:
        raise refuse(
            request,
            Unauthenticated(
                "This endpoint needs a credential.",
                hint="Send `Authorization: Bearer <token>` (bloodtrace users/facilities create).",
            ),
            "no_credential",
            client or "unknown",
        )
    try:
        principal: Principal = await run_in_threadpool(platform().authenticator.authenticate, token)
    except Unauthenticated as exc:
        raise refuse(request, exc, "bad_credential", client or "unknown") from None
    if principal.role not in rule.roles:
        allowed = ", ".join(sorted(r.value for r in rule.roles))
        raise refuse(
            request,
            Forbidden(
                f"A {principal.role.value} may not call {request.method} {path}.",
                hint=f"Allowed: {allowed}.",
            ),
            "role",
            principal.label,
        )
    bucket = f"{id(platform())}:{principal.id}"  # per platform instance (tests run several)
    if not _buckets.take(bucket, settings.rate_per_second, settings.rate_burst):
        raise refuse(
            request,
            TooManyAttempts(
                f"Over {settings.rate_per_second:g} requests a second for this credential.",
                hint="Slow down, or send bigger batches (POST /v1/events takes up to 2,000).",
            ),
            "rate_limited",
            principal.label,
        )
    request.state.principal = principal


class TokenBuckets:
    """Per-credential token buckets (in this worker)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}  # id -> (tokens, at)

    def take(self, key: str, rate: float, burst: int) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, at = self._state.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - at) * rate)
            if tokens < 1:
                self._state[key] = (tokens, now)
                return False
            self._state[key] = (tokens - 1, now)
            return True


_buckets = TokenBuckets()


def principal_of(request: Request) -> Principal:
    """Who the request acts as (LOCAL when auth is off or the route is open)."""
    found = getattr(request.state, "principal", None)
    return found if isinstance(found, Principal) else LOCAL
