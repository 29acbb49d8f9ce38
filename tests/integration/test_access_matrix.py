"""Who may call what: the role x endpoint matrix, generated from the app's routes.

EXPECTED below is the intended policy written independently of api.auth.ACCESS; every route
the app serves must have a rule in both, so a new route without one fails here. Each refusal
is checked over HTTP against a running platform; each permission too, except the POSTs that
would start real work (jobs, dbt, quality runs, rebuilds, credentials), whose permission is
checked on the rule itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from events_factory import donation
from harness import ADMIN_TOKEN, ThreadPlatform, role_tokens, wait_until

from api.app import create_api
from api.auth import ACCESS
from infra.warehouse import thread_client

pytestmark = pytest.mark.integration

ANON = "anonymous"
ROLES = ("emitter", "viewer", "quality_officer", "administrator")
EVERYONE = frozenset((ANON, *ROLES))
READERS = frozenset(("viewer", "quality_officer", "administrator"))
OPEN_PATHS = {"/", "/dashboard", "/docs", "/openapi.json", "/static", "/health", "/metrics"}
OPEN_PATHS |= {"/signin", "/v1/session", "/v1/session/logout"}  # sign-in: locked out on failures
# Permitted POSTs that would start real work: their permission is checked on the rule only.
WORK = re.compile(r"^/v1/(jobs|dbt|quality/runs|inventory/rebuild|admin/)")


def expected(method: str, path: str) -> frozenset[str]:
    """The intended policy (issue 15), by what an endpoint gives away."""
    if path in OPEN_PATHS:  # page shells hold no data; ops open on 127.0.0.1 only
        return EVERYONE
    if path == "/v1/events":
        return frozenset(("emitter", "administrator"))
    if path.endswith("/trace") or path.startswith(("/v1/lookbacks", "/v1/supply/recruit")):
        return frozenset(("quality_officer", "administrator"))
    if path.startswith("/v1/admin/") or method == "POST":
        return frozenset(("administrator",))
    if path == "/v1/whoami":
        return frozenset(ROLES)
    if path.startswith(("/v1/marts", "/v1/dashboard", "/v1/alerts", "/v1/findings")) or (
        path.startswith(
            ("/v1/quality", "/v1/inventory", "/v1/coldchain", "/v1/figures", "/v1/supply/forecast")
        )
        or path == "/v1/status"
    ):
        return READERS
    raise AssertionError(f"{method} {path}: no expected rule; add one here and in api.auth")


def _walk(routes: list[Any]) -> Iterator[tuple[str, str]]:
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI's included routers
        if inner is not None:
            yield from _walk(inner.routes)
            continue
        methods = getattr(route, "methods", None) or {"GET"}  # a Mount serves GET
        for method in sorted(methods - {"HEAD"}):
            yield method, route.path


ROUTES = sorted(set(_walk(create_api().routes)))


def test_every_route_has_a_rule_matching_the_intended_policy() -> None:
    assert len(ROUTES) > 40
    for method, path in ROUTES:
        rule = ACCESS.get((method, path))
        assert rule is not None, f"{method} {path} has no rule in api.auth.ACCESS"
        granted = (
            EVERYONE if rule.public or rule.local_ops else frozenset(r.value for r in rule.roles)
        )
        assert granted == expected(method, path), (method, path)


def _concrete(path: str) -> str:
    if path == "/static":
        return "/static/favicon.svg"
    values = {"din": "G123426000001X", "county_code": "610902", "table": "headline_monthly"}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), path)


@pytest.fixture
def tokens(platform: ThreadPlatform) -> dict[str, str | None]:
    return role_tokens(platform.url, "test")


def _headers(token: str | None) -> dict[str, str]:
    # An explicit (empty-scheme) header keeps the harness from attaching its default token.
    return {"Authorization": f"Bearer {token}" if token else "None"}


def test_role_endpoint_matrix_is_enforced_over_http(
    platform: ThreadPlatform, tokens: dict[str, str | None]
) -> None:
    checked = 0
    for method, path in ROUTES:
        allowed = expected(method, path)
        for who, token in tokens.items():
            if who in allowed and method == "POST" and WORK.match(path):
                continue
            body: Any = [] if path == "/v1/events" else None
            answer = httpx.request(
                method,
                f"{platform.url}{_concrete(path)}",
                headers=_headers(token),
                json=body,
                timeout=120,
            )
            if who in allowed:
                assert answer.status_code not in (401, 403), (who, method, path, answer.text)
            else:
                want = 401 if who == ANON else 403
                assert answer.status_code == want, (who, method, path, answer.status_code)
                assert token is None or token not in answer.text
            checked += 1
    assert checked > 150
    metrics = httpx.get(f"{platform.url}/metrics", timeout=10).text
    assert 'bloodtrace_auth_refusals_total{reason="role"}' in metrics
    assert 'bloodtrace_auth_refusals_total{reason="no_credential"}' in metrics


def test_an_emitter_is_refused_events_of_another_facility_and_they_are_kept(
    platform: ThreadPlatform, tokens: dict[str, str | None]
) -> None:
    mine, theirs = donation(1), {**donation(2), "facility_id": "BS02"}
    url = f"{platform.url}/v1/events"
    refused = httpx.post(url, json=[mine, theirs], headers=_headers(tokens["emitter"]), timeout=60)
    assert refused.status_code == 403
    assert refused.json()["detail"]["reason"] == "facility_not_permitted"
    ok = httpx.post(url, json=[mine], headers=_headers(tokens["emitter"]), timeout=60)
    assert ok.status_code == 200 and ok.json()["accepted"] == 1
    client = thread_client(platform.settings)
    rows = wait_until(
        lambda: (
            client.query(
                "select detail from rejected_events where reason = 'facility_not_permitted'"
            ).result_rows
        ),
        30,
        what="the refused batch in rejected_events",
    )
    assert "BS02" in rows[0][0]


def test_a_revoked_credential_stops_working_on_every_worker(
    platform: ThreadPlatform, tokens: dict[str, str | None]
) -> None:
    url = f"{platform.url}/v1/status"
    viewer = tokens["viewer"]
    assert httpx.get(url, headers=_headers(viewer), timeout=30).status_code == 200
    whoami = httpx.get(f"{platform.url}/v1/whoami", headers=_headers(viewer), timeout=30).json()
    revoked = httpx.post(f"{platform.url}/v1/admin/credentials/{whoami['id']}/revoke", timeout=30)
    assert revoked.status_code == 200
    # A second worker's view: a fresh authenticator on the same warehouse, as another process.
    from infra.auth import Authenticator, CredentialStore
    from infra.errors import Unauthenticated

    other = Authenticator(lambda: CredentialStore(thread_client(platform.settings)).all(), 5)
    with pytest.raises(Unauthenticated):
        other.authenticate(str(viewer))
    wait_until(
        lambda: httpx.get(url, headers=_headers(viewer), timeout=30).status_code == 401,
        platform.settings.auth.cache_seconds + 5,
        what="the revocation on the serving worker",
    )


def test_dashboard_sign_in_cookie_csrf_logout_and_lockout(
    platform: ThreadPlatform, tokens: dict[str, str | None]
) -> None:
    with httpx.Client(base_url=platform.url, headers=_headers(None), timeout=30) as browser:
        assert browser.get("/v1/status").status_code == 401
        signed = browser.post("/v1/session", json={"token": tokens["viewer"]})
        assert signed.status_code == 200 and signed.json()["role"] == "viewer"
        assert "httponly" in signed.headers["set-cookie"].lower()
        assert browser.get("/v1/status").status_code == 200  # the cookie signs requests
        assert browser.get("/v1/units/G123426000001X/trace").status_code == 403  # a viewer
        logged_out = browser.post("/v1/session/logout")
        assert logged_out.status_code == 200
        browser.cookies.clear()  # as the browser does on the answer's expired cookies
        assert browser.get("/v1/status").status_code == 401

    # A change signed by cookie needs the CSRF header.
    with httpx.Client(base_url=platform.url, headers=_headers(None), timeout=30) as admin:
        admin.post("/v1/session", json={"token": ADMIN_TOKEN}).raise_for_status()
        body = {"kind": "person", "name": "x", "role": "viewer"}
        assert admin.post("/v1/admin/credentials", json=body).status_code == 403
        csrf = {"X-CSRF-Token": admin.cookies["bt_csrf"]}
        assert admin.post("/v1/admin/credentials", json=body, headers=csrf).status_code == 200

    # Repeated failures lock the address out, even for a right token afterwards.
    limit = platform.settings.auth.lockout_failures
    with httpx.Client(base_url=platform.url, headers=_headers(None), timeout=30) as guesser:
        for n in range(limit):
            wrong = guesser.post("/v1/session", json={"token": f"bt_guess{n:04d}_" + "x" * 20})
            assert wrong.status_code == 401
        locked = guesser.post("/v1/session", json={"token": tokens["viewer"]})
        assert locked.status_code == 429
    metrics = httpx.get(f"{platform.url}/metrics", timeout=10).text
    assert 'bloodtrace_auth_refusals_total{reason="locked_out"}' in metrics
    assert 'bloodtrace_auth_refusals_total{reason="csrf"}' in metrics
