"""Credentials and roles: who may emit, who may read, who may trace.

A credential is a token ``bt_<id>_<secret>``: the id names its row in the warehouse table
``credentials`` (migration 0500), the secret is stored only as an argon2 hash. People have
a role (quality officer, leadership viewer, administrator); a facility's emitting systems
have the emitter role, bound to that facility.

Every platform process reads the same rows, so a revocation reaches every worker: the table
is re-read at most ``auth.cache_seconds`` after the last read (default 5 s), and a verified
token is remembered only against the exact row it was verified with (argon2 is slow on
purpose: it is not paid on every request).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from infra.errors import InvalidCredentialRequest, NotFound, Unauthenticated
from infra.warehouse import WarehouseClient

TOKEN_PREFIX = "bt_"
_TOKEN = re.compile(r"^bt_([a-z0-9]{6,40})_([A-Za-z0-9_-]{16,128})$")
_ID = re.compile(r"^[a-z0-9]{6,40}$")
# Modest argon2id costs: a token is a long random secret (not a password people choose), and
# each one is verified once per cache period, not per request.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
COLUMNS = [
    "id",
    "kind",
    "name",
    "role",
    "facility_id",
    "secret_hash",
    "revoked",
    "created_at",
    "changed_at",
    "changed_by",
    "version",
]


class Role(StrEnum):
    EMITTER = "emitter"
    QUALITY_OFFICER = "quality_officer"
    VIEWER = "viewer"
    ADMINISTRATOR = "administrator"


PERSON_ROLES = (Role.QUALITY_OFFICER, Role.VIEWER, Role.ADMINISTRATOR)


@dataclass(frozen=True)
class Principal:
    """Who a request or command acts as."""

    id: str
    name: str
    role: Role
    facility_id: str = ""

    @property
    def label(self) -> str:
        """For the audit log: ``name (role[, facility], id)``."""
        where = f", {self.facility_id}" if self.facility_id else ""
        return f"{self.name} ({self.role.value}{where}, {self.id})"


# Acting without a credential: auth turned off for local development, or a local command that
# opened the warehouse itself (whoever can do that holds the data files anyway).
LOCAL = Principal("local", "local", Role.ADMINISTRATOR)


@dataclass(frozen=True)
class Credential:
    id: str
    kind: str  # "person" or "facility"
    name: str
    role: Role
    facility_id: str
    secret_hash: str
    revoked: bool
    created_at: datetime
    changed_at: datetime
    changed_by: str
    version: int

    def principal(self) -> Principal:
        return Principal(self.id, self.name, self.role, self.facility_id)

    def public(self) -> dict[str, Any]:
        """What may be shown: everything but the hash."""
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "role": self.role.value,
            "facility_id": self.facility_id,
            "revoked": self.revoked,
            "created_at": self.created_at.isoformat(),
            "changed_at": self.changed_at.isoformat(),
            "changed_by": self.changed_by,
        }


def new_token(credential_id: str | None = None) -> tuple[str, str, str]:
    """(id, secret, token) of a fresh credential."""
    cid = credential_id or secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return cid, secret, f"{TOKEN_PREFIX}{cid}_{secret}"


def parse_token(token: str) -> tuple[str, str] | None:
    match = _TOKEN.match(token.strip())
    return (match.group(1), match.group(2)) if match else None


def hash_secret(secret: str) -> str:
    return _HASHER.hash(secret)


def secret_matches(secret_hash: str, secret: str) -> bool:
    try:
        return _HASHER.verify(secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


def _now() -> datetime:
    return datetime.now(UTC)


class CredentialStore:
    """The credentials table: create, list, rotate, revoke (each a new version of the row)."""

    def __init__(self, client: WarehouseClient) -> None:
        self.client = client

    def all(self) -> dict[str, Credential]:
        rows = self.client.query(
            "select id, argMax(kind, version), argMax(name, version), argMax(role, version), "
            "argMax(facility_id, version), argMax(secret_hash, version), "
            "argMax(revoked, version), min(created_at), argMax(changed_at, version), "
            "argMax(changed_by, version), max(version) from credentials group by id"
        ).result_rows
        found = {}
        for r in rows:
            found[r[0]] = Credential(
                r[0], r[1], r[2], Role(r[3]), r[4], r[5], bool(r[6]), r[7], r[8], r[9], int(r[10])
            )
        return found

    def get(self, credential_id: str) -> Credential:
        found = self.all().get(credential_id)
        if found is None:
            raise NotFound(
                f"No credential {credential_id!r}.",
                hint="`bloodtrace users list` and `bloodtrace facilities list` show them.",
            )
        return found

    def _write(self, c: Credential) -> None:
        row = [
            c.id,
            c.kind,
            c.name,
            c.role.value,
            c.facility_id,
            c.secret_hash,
            int(c.revoked),
            c.created_at,
            c.changed_at,
            c.changed_by,
            c.version,
        ]
        self.client.insert("credentials", [row], column_names=COLUMNS)

    def create(
        self,
        kind: str,
        name: str,
        role: Role,
        facility_id: str = "",
        *,
        by: str,
        token: str | None = None,
    ) -> tuple[Credential, str]:
        """A new credential and its token (shown once: only its hash is kept)."""
        if role is Role.EMITTER and not facility_id:
            raise InvalidCredentialRequest(
                "An emitter credential is bound to one facility: name it."
            )
        if role is not Role.EMITTER and facility_id:
            raise InvalidCredentialRequest("Only emitter credentials are bound to a facility.")
        if token is not None:
            parsed = parse_token(token)
            if parsed is None:
                raise InvalidCredentialRequest("A given token must look like bt_<id>_<secret>.")
            cid, secret = parsed
        else:
            cid, secret, token = new_token()
        if cid in self.all():
            raise InvalidCredentialRequest(f"A credential {cid!r} exists already.")
        now = _now()
        credential = Credential(
            cid,
            kind,
            name,
            role,
            facility_id,
            hash_secret(secret),
            False,
            now,
            now,
            by,
            time.time_ns(),
        )
        self._write(credential)
        return credential, token

    def rotate(self, credential_id: str, *, by: str) -> tuple[Credential, str]:
        """A new secret for the credential; the old token stops working."""
        old = self.get(credential_id)
        if old.revoked:
            raise InvalidCredentialRequest(
                f"Credential {credential_id!r} is revoked; create a new one."
            )
        _, secret, token = new_token(old.id)
        rotated = _replace(old, secret_hash=hash_secret(secret), by=by)
        self._write(rotated)
        return rotated, token

    def revoke(self, credential_id: str, *, by: str) -> Credential:
        revoked = _replace(self.get(credential_id), revoked=True, by=by)
        self._write(revoked)
        return revoked


def _replace(c: Credential, *, by: str, **changes: Any) -> Credential:
    values = dict(c.__dict__)
    values.update(changes, changed_at=_now(), changed_by=by, version=time.time_ns())
    return Credential(**values)


class Authenticator:
    """Tokens to principals, against a snapshot of the credentials table at most
    ``cache_seconds`` old (so a revocation is seen by every worker within that time)."""

    def __init__(self, load: Any, cache_seconds: float) -> None:
        self._load = load  # () -> dict[str, Credential]
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._snapshot: dict[str, Credential] = {}
        self._loaded_at = float("-inf")
        # sha256(token) -> the (id, version) it was verified against
        self._verified: dict[str, tuple[str, int]] = {}

    def _credentials(self, max_age: float | None = None) -> dict[str, Credential]:
        with self._lock:
            if time.monotonic() - self._loaded_at >= (max_age or self.cache_seconds):
                self._snapshot = self._load()
                self._loaded_at = time.monotonic()
            return self._snapshot

    def invalidate(self) -> None:
        """Re-read at the next request (after this process changed a credential)."""
        with self._lock:
            self._loaded_at = float("-inf")

    def authenticate(self, token: str) -> Principal:
        parsed = parse_token(token)
        if parsed is None:
            raise Unauthenticated("The credential is not a Bloodtrace token.")
        cid, secret = parsed
        credential = self._credentials().get(cid)
        if credential is None:  # created since the last read? (at most 5 re-reads a second)
            credential = self._credentials(max_age=min(0.2, self.cache_seconds)).get(cid)
        if credential is None or credential.revoked:
            raise Unauthenticated("The credential is unknown or revoked.")
        digest = hashlib.sha256(token.encode()).hexdigest()
        if self._verified.get(digest) != (credential.id, credential.version):
            if not secret_matches(credential.secret_hash, secret):
                raise Unauthenticated("The credential is unknown or revoked.")
            self._verified[digest] = (credential.id, credential.version)
        return credential.principal()
