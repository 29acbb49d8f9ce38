"""Keyed pseudonyms for donors and recipients.

Only ``ps_`` + 32 hex characters of HMAC-SHA256(key, normalised national ID) ever enter Kafka or
ClickHouse. The same key gives the same pseudonym everywhere, so a donor can be traced without
the platform ever holding who they are.
"""

from __future__ import annotations

import hashlib
import hmac
import re

PSEUDONYM_RE = re.compile(r"^ps_[0-9a-f]{32}$")


def is_pseudonym(value: str) -> bool:
    return bool(PSEUDONYM_RE.match(value))


def pseudonymise(national_id: str, key: bytes) -> str:
    """The pseudonym of a national ID number (spaces dropped, letters upper-cased)."""
    normalised = "".join(national_id.split()).upper().encode()
    digest = hmac.new(key, normalised, hashlib.sha256).hexdigest()
    return "ps_" + digest[:32]


def as_pseudonym(identifier: str, key: bytes) -> str:
    """Pass a pseudonym through unchanged; pseudonymise anything else."""
    return identifier if is_pseudonym(identifier) else pseudonymise(identifier, key)
