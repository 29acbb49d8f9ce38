"""The audit log's hash chain (migration 0501): every audit row gets a link whose hash covers
the previous link's hash and the row's fields; `bloodtrace audit verify` recomputes them and
reports the first broken link.

Each writing process keeps a chain of its own (a random chain id, seq from 1), so workers
never race for "the previous row". What the chain proves: no audit row of a chain was altered,
removed or inserted between two others, and no row exists without a link. What it cannot
prove alone: that a chain's newest rows were not cut off (anchor the latest hashes elsewhere,
e.g. in the operations log, for that).
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from infra.warehouse import WarehouseClient

AUDIT_FIELDS = (
    "at",
    "request_id",
    "actor",
    "channel",
    "client",
    "action",
    "subject",
    "outcome",
    "detail",
)
_lock = threading.Lock()


@dataclass
class _Chain:
    id: str
    seq: int = 0
    hash: str = ""


# One chain per writing process and warehouse database (a process may write to several).
_chains: dict[tuple[str, str], _Chain] = {}


def _at(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:23]  # milliseconds, as stored
    return str(value)[:23]


def entry_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """SHA-256 of the previous hash and the row's fields (unambiguous: length-prefixed)."""
    digest = hashlib.sha256(prev_hash.encode())
    for name in AUDIT_FIELDS:
        text = (_at(row[name]) if name == "at" else str(row[name])).encode()
        digest.update(len(text).to_bytes(4, "big") + text)
    return digest.hexdigest()


def append(client: WarehouseClient, row: dict[str, Any]) -> None:
    """Write one audit row and its link (under a lock: this process's chain stays in order)."""
    with _lock:
        _chain = _chains.setdefault((client.dsn, client.database), _Chain(uuid.uuid4().hex))
        seq = _chain.seq + 1
        prev = _chain.hash or f"genesis:{_chain.id}"
        digest = entry_hash(prev, row)
        client.insert("audit_log", [[row[n] for n in AUDIT_FIELDS]], column_names=AUDIT_FIELDS)
        client.insert(
            "audit_chain",
            [[row["request_id"], _chain.id, seq, prev, digest]],
            column_names=["request_id", "chain", "seq", "prev_hash", "hash"],
        )
        _chain.seq, _chain.hash = seq, digest


@dataclass
class Verification:
    rows: int = 0
    chains: int = 0
    broken: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.broken

    def to_dict(self) -> dict[str, Any]:
        first = self.broken[0] if self.broken else None
        return {
            "ok": self.ok,
            "rows": self.rows,
            "chains": self.chains,
            "first_broken": first,
            "broken": len(self.broken),
        }


def verify(client: WarehouseClient) -> Verification:
    """Recompute every chain; the broken links in order (the first is the one to look at)."""
    names = ", ".join(f"a.{n}" for n in AUDIT_FIELDS)
    rows = client.query(
        f"select {names}, c.chain, c.seq, c.prev_hash, c.hash, c.request_id = a.request_id "
        "from audit_log as a full outer join audit_chain as c on a.request_id = c.request_id "
        "order by c.chain, c.seq, a.at",
        settings={"join_use_nulls": 1},
    ).result_rows
    result = Verification(rows=len(rows))
    previous: dict[str, tuple[int, str]] = {}
    for r in rows:
        row = dict(zip(AUDIT_FIELDS, r[: len(AUDIT_FIELDS)], strict=True))
        chain, seq, prev_hash, digest, joined = r[len(AUDIT_FIELDS) :]
        where = {"chain": chain, "seq": seq, "request_id": str(row["request_id"] or "")}
        where |= {"at": _at(row["at"]) if row["at"] else None, "action": row["action"]}
        if not chain:
            result.broken.append(where | {"problem": "an audit row without a chain link"})
            continue
        if not joined:
            result.broken.append(where | {"problem": "a chain link whose audit row is missing"})
            continue
        last_seq, last_hash = previous.get(chain, (0, f"genesis:{chain}"))
        if seq != last_seq + 1:
            result.broken.append(where | {"problem": f"link {last_seq + 1} is missing"})
        elif prev_hash != last_hash:
            result.broken.append(where | {"problem": "does not follow the previous link"})
        elif entry_hash(prev_hash, row) != digest:
            result.broken.append(where | {"problem": "the row was altered after it was written"})
        previous[chain] = (int(seq), str(digest))
    result.chains = len(previous)
    return result
