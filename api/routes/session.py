"""Dashboard sign-in: a person's token exchanged for a session cookie.

``POST /v1/session`` checks the token and sets two cookies: ``bt_session`` (HttpOnly,
SameSite=Strict: the credential, unreadable by scripts) and ``bt_csrf`` (readable by the page,
which echoes it in ``X-CSRF-Token`` on every non-GET request: api.auth refuses a cookie-signed
change without it). ``POST /v1/session/logout`` clears both. After ``auth.lockout_failures``
wrong tokens from one address within ``auth.lockout_seconds`` the address is refused (429)
until that time has passed (per worker: a shared limiter would need the warehouse).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import defaultdict, deque

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.auth import CSRF_COOKIE, SESSION_COOKIE, refuse
from api.deps import platform
from api.errors_doc import error_response
from infra.errors import TooManyAttempts, Unauthenticated

router = APIRouter(tags=["session"])
_failures: dict[str, deque[float]] = defaultdict(deque)
_lock = threading.Lock()


class SignIn(BaseModel):
    token: str


def _locked(address: str, limit: int, window: float) -> bool:
    now = time.monotonic()
    with _lock:
        seen = _failures[address]
        while seen and now - seen[0] > window:
            seen.popleft()
        return len(seen) >= limit


def _failed(address: str) -> None:
    with _lock:
        _failures[address].append(time.monotonic())


@router.post(
    "/v1/session",
    responses={
        401: error_response("The token is unknown, revoked or wrong."),
        429: error_response("Too many failed sign-ins from this address: locked out."),
    },
)
async def sign_in(body: SignIn, request: Request) -> JSONResponse:
    """Sign in with a token; answers who you are and sets the session cookies."""
    settings = platform().settings.auth
    address = request.client.host if request.client else "unknown"
    key = f"{id(platform())}:{address}"  # per platform instance (tests run several)
    if _locked(key, settings.lockout_failures, settings.lockout_seconds):
        raise refuse(
            request,
            TooManyAttempts(
                "Too many failed sign-ins from this address; try again later.",
                hint=f"Locked for up to {settings.lockout_seconds:.0f} s after "
                f"{settings.lockout_failures} failures.",
            ),
            "locked_out",
            address,
        )
    try:
        principal = await run_in_threadpool(platform().authenticator.authenticate, body.token)
    except Unauthenticated as exc:
        _failed(key)
        raise refuse(request, exc, "bad_credential", address) from None
    answer = JSONResponse(
        {"id": principal.id, "name": principal.name, "role": principal.role.value}
    )
    secure = request.url.scheme == "https"
    answer.set_cookie(
        SESSION_COOKIE, body.token, httponly=True, samesite="strict", secure=secure, path="/"
    )
    answer.set_cookie(
        CSRF_COOKIE, secrets.token_urlsafe(24), samesite="strict", secure=secure, path="/"
    )
    return answer


@router.post("/v1/session/logout")
def sign_out() -> JSONResponse:
    """Clear the session cookies."""
    answer = JSONResponse({"signed_out": True})
    answer.delete_cookie(SESSION_COOKIE, path="/")
    answer.delete_cookie(CSRF_COOKIE, path="/")
    return answer


SIGN_IN_PAGE = r"""<!doctype html><html lang="zh"><head><meta charset="utf-8">
<title>Bloodtrace 登录 / sign in</title><link rel="icon" href="/static/favicon.svg"></head>
<body style="font-family:sans-serif;max-width:28em;margin:4em auto">
<h1>Bloodtrace</h1><form id="f"><label>令牌 / token<br>
<input id="t" type="password" autocomplete="off" style="width:100%"></label>
<p><button>登录 / sign in</button></p><p id="e" style="color:#c00"></p></form>
<script>
// Back to the page that sent us here: a path on this site only (never //host or a URL).
function back() {
  var next = new URLSearchParams(location.search).get("next") || "/";
  return /^\/(?![\/\\])/.test(next) ? next : "/";
}
document.getElementById("f").addEventListener("submit", function (ev) {
  ev.preventDefault();
  fetch("/v1/session", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({token: document.getElementById("t").value})})
  .then(function (r) { return r.json().then(function (b) { return [r, b]; }); })
  .then(function (rb) {
    if (rb[0].ok) { location.href = back(); return; }
    document.getElementById("e").textContent = (rb[1].detail || {}).message || "refused";
  });
});
</script></body></html>"""


@router.get("/signin", include_in_schema=False)
def sign_in_page() -> HTMLResponse:
    return HTMLResponse(SIGN_IN_PAGE, headers={"Cache-Control": "no-store"})
