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
from infra.auth import CredentialStore, Role
from infra.errors import InvalidCredentialRequest
from infra.warehouse import thread_client
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
    platform().authenticator.invalidate()
    record_audit(
        store.client,
        _requester(request),
        "credential.create",
        credential.id,
        "ok",
        f"{credential.kind} {credential.name} as {credential.role.value}",
    )
    return credential.public() | {"token": token}


@router.post("/v1/admin/credentials/{credential_id}/rotate")
def rotate_credential(credential_id: str, request: Request) -> dict[str, Any]:
    """A new secret; the old token stops working on every worker within auth.cache_seconds."""
    store = _store()
    credential, token = store.rotate(credential_id, by=principal_of(request).label)
    platform().authenticator.invalidate()
    record_audit(store.client, _requester(request), "credential.rotate", credential_id, "ok")
    return credential.public() | {"token": token}


@router.post("/v1/admin/credentials/{credential_id}/revoke")
def revoke_credential(credential_id: str, request: Request) -> dict[str, Any]:
    """Revoked on every worker within auth.cache_seconds."""
    store = _store()
    credential = store.revoke(credential_id, by=principal_of(request).label)
    platform().authenticator.invalidate()
    record_audit(store.client, _requester(request), "credential.revoke", credential_id, "ok")
    return credential.public()


@router.get("/v1/whoami")
def whoami(request: Request) -> dict[str, Any]:
    """The credential this request acts as."""
    p = principal_of(request)
    return {"id": p.id, "name": p.name, "role": p.role.value, "facility_id": p.facility_id}
