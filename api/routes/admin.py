"""Credentials: create, list, rotate, revoke (administrators only; see api.auth.ACCESS).

A token is answered once, when created or rotated: only its argon2 hash is kept. Every action
is recorded in the audit log with the administrator who did it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from api.auth import principal_of
from api.deps import platform
from infra.auth import Credential, CredentialStore, Role
from infra.errors import InvalidCredentialRequest
from infra.warehouse import thread_client
from sdk.signing import facility_key
from streams.trace import Requester, record_audit

router = APIRouter(tags=["administration"])


class NewCredential(BaseModel):
    kind: str  # "person" or "facility"
    name: str
    role: Role
    facility_id: str = ""


def _requester(request: Request) -> Requester:
    address = request.client.host if request.client else "unknown"
    return Requester(principal_of(request).label, "http", address)


def _store() -> CredentialStore:
    return CredentialStore(thread_client(platform().settings))


@router.get("/v1/admin/credentials")
def list_credentials() -> list[dict[str, Any]]:
    """Every credential (never a secret or its hash), newest first."""
    found = sorted(_store().all().values(), key=lambda c: c.created_at, reverse=True)
    return [c.public() for c in found]


@router.post("/v1/admin/credentials")
def create_credential(body: NewCredential, request: Request) -> dict[str, Any]:
    """A new credential; the answer holds its token, shown this once."""
    if body.kind not in ("person", "facility"):
        raise InvalidCredentialRequest("kind is person or facility.")
    store = _store()
    credential, token = store.create(
        body.kind, body.name, body.role, body.facility_id, by=principal_of(request).label
    )
    _changed()
    record_audit(
        store.client,
        _requester(request),
        "credential.create",
        credential.id,
        "ok",
        f"{credential.kind} {credential.name} as {credential.role.value}",
    )
    return credential.public() | {"token": token} | _signing(credential)


def _changed() -> None:
    """This worker sees a change at once; the others within auth.cache_seconds."""
    service = platform()
    service.authenticator.invalidate()
    if service.ctx.verifier is not None:
        service.ctx.verifier.invalidate()


def _signing(credential: Credential) -> dict[str, str]:
    """An emitter's Kafka signing key (sdk/signing.py), shown with its token."""
    if credential.role is not Role.EMITTER:
        return {}
    key = facility_key(platform().settings.signing_master(), credential)
    return {"signer": credential.id, "signing_key": key.hex()}


@router.post("/v1/admin/credentials/{credential_id}/rotate")
def rotate_credential(credential_id: str, request: Request) -> dict[str, Any]:
    """A new secret; the old token stops working on every worker within auth.cache_seconds."""
    store = _store()
    credential, token = store.rotate(credential_id, by=principal_of(request).label)
    _changed()
    record_audit(store.client, _requester(request), "credential.rotate", credential_id, "ok")
    return credential.public() | {"token": token} | _signing(credential)


@router.post("/v1/admin/credentials/{credential_id}/revoke")
def revoke_credential(credential_id: str, request: Request) -> dict[str, Any]:
    """Revoked on every worker within auth.cache_seconds."""
    store = _store()
    credential = store.revoke(credential_id, by=principal_of(request).label)
    _changed()
    record_audit(store.client, _requester(request), "credential.revoke", credential_id, "ok")
    return credential.public()


@router.get("/v1/whoami")
def whoami(request: Request) -> dict[str, Any]:
    """The credential this request acts as."""
    p = principal_of(request)
    return {"id": p.id, "name": p.name, "role": p.role.value, "facility_id": p.facility_id}


@router.get("/v1/admin/audit/verify")
def verify_audit(request: Request) -> dict[str, Any]:
    """Recompute the audit log's hash chains: ok, or the first broken link (infra/audit.py).
    The check itself is audited."""
    from infra.audit import verify

    client = thread_client(platform().settings)
    result = verify(client).to_dict()
    outcome = "ok" if result["ok"] else "broken"
    record_audit(client, _requester(request), "audit.verify", "audit_log", outcome)
    return result
