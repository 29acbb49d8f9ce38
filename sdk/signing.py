"""Proof of facility on the Kafka channel: an HMAC-SHA256 signature in message headers.

A facility's emitting system signs each event's bytes with its signing key and names its
emitter credential (headers ``bloodtrace-signer`` and ``bloodtrace-signature``). The stream
refuses an event that is unsigned, signed wrongly, signed by a revoked credential, or whose
facility_id is not the signer's; each is kept in rejected_events with the reason.

Keys are never stored: a facility's key is HMAC(master, credential id and secret hash), so it
changes when the credential is rotated; the platform's own producers (HTTP ingest, after the
facility check there; its CLI imports and simulations) sign as ``platform`` with
HMAC(master, "platform"). Only platform processes hold the master key (auth.signing_key or
its file; generated under data_dir in embedded mode). Emitters hold the pseudonym key too, so
the master key must not be derived from it.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from models.errors import EventRejected


class Credential(Protocol):
    """What a signing key derives from: infra.auth.Credential (the SDK cannot import infra)."""

    @property
    def id(self) -> str: ...
    @property
    def secret_hash(self) -> str: ...
    @property
    def facility_id(self) -> str | None: ...
    @property
    def revoked(self) -> bool: ...
    @property
    def role(self) -> Any: ...


SIGNER_HEADER = "bloodtrace-signer"
SIGNATURE_HEADER = "bloodtrace-signature"
PLATFORM_SIGNER = "platform"


def platform_key(master: bytes) -> bytes:
    return hmac.new(master, b"bloodtrace platform signer", hashlib.sha256).digest()


def facility_key(master: bytes, credential: Credential) -> bytes:
    """The signing key of a facility's emitter credential (a new one after each rotation)."""
    label = f"bloodtrace facility signer:{credential.id}:{credential.secret_hash}".encode()
    return hmac.new(master, label, hashlib.sha256).digest()


def signature(key: bytes, value: bytes) -> str:
    return hmac.new(key, value, hashlib.sha256).hexdigest()


def headers_for(signer: str, key: bytes, value: bytes) -> list[tuple[str, str | bytes | None]]:
    return [(SIGNER_HEADER, signer.encode()), (SIGNATURE_HEADER, signature(key, value).encode())]


def _header(headers: Any, name: str) -> str | None:
    items: Sequence[tuple[Any, Any]] = (
        list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    )
    for key, value in items:
        key = key.decode() if isinstance(key, bytes) else str(key)
        if key.lower() == name:
            return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return None


class SignatureVerifier:
    """Checks signatures against the emitter credentials, re-read at most every
    ``cache_seconds`` (as the HTTP authenticator), keys derived once per credential version:
    the per-event cost is one HMAC."""

    def __init__(
        self, master: bytes, load: Callable[[], Mapping[str, Credential]], cache_seconds: float
    ) -> None:
        self._platform = platform_key(master)
        self._master = master
        self._load = load
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[bytes, str]] = {}  # signer -> (key, facility)
        self._loaded_at = float("-inf")

    def invalidate(self) -> None:
        """Re-read at the next signed event (after this process changed a credential)."""
        with self._lock:
            self._loaded_at = float("-inf")

    def _refresh(self, max_age: float) -> None:
        with self._lock:
            if time.monotonic() - self._loaded_at < max_age:
                return
            keys: dict[str, tuple[bytes, str]] = {}
            for c in self._load().values():
                if c.role.value == "emitter" and not c.revoked:
                    keys[c.id] = (facility_key(self._master, c), c.facility_id or "")
            self._keys = keys
            self._loaded_at = time.monotonic()

    def facility_of(self, value: bytes, headers: Any) -> str | None:
        """The facility the message is proven to come from (None: the platform, any facility);
        EventRejected(unsigned / bad_signature) otherwise."""
        signer = _header(headers, SIGNER_HEADER)
        given = _header(headers, SIGNATURE_HEADER)
        if not signer or not given:
            raise EventRejected(
                "unsigned",
                f"no {SIGNER_HEADER}/{SIGNATURE_HEADER} headers: events on the topic must be "
                "signed with the facility's key (the SDK does it)",
            )
        if signer == PLATFORM_SIGNER:
            key, facility = self._platform, None
        else:
            self._refresh(self.cache_seconds)
            if signer not in self._keys:  # created since the last read? (bounded re-reads)
                self._refresh(min(0.5, self.cache_seconds))
            if signer not in self._keys:
                raise EventRejected(
                    "bad_signature", f"signer {signer[:40]!r} is unknown or revoked"
                )
            key, found = self._keys[signer]
            facility = found
        if not hmac.compare_digest(signature(key, value), given.strip()):
            raise EventRejected("bad_signature", f"the signature of {signer[:40]!r} does not match")
        return facility
