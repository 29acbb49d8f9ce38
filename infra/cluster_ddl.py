"""Migrations for a ClickHouse cluster: the same migration files, rewritten statement by statement.

With ``BLOODTRACE_WAREHOUSE_CLUSTER=<name>`` (a cluster of ``remote_servers`` with Keeper and
the ``{shard}``/``{replica}`` macros on every node) each migration statement becomes:

* ``create table T (...) engine = [Replacing]MergeTree[(v)] ...`` -> ``T_local ON CLUSTER`` with
  ``Replicated[Replacing]MergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}'[, v])``
  and ``T ON CLUSTER`` as ``Distributed(cluster, db, T_local, key)`` in front, so every query
  and insert of the platform keeps using the name ``T``. ``{uuid}`` (Atomic databases; ON
  CLUSTER hands every replica the initiator's UUID) keeps Keeper paths unique without naming
  the database.
* the sharding key is ``cityHash64(din)`` where a unit's rows belong together (``din`` in the
  sort key, or any column of a plain MergeTree), else a hash of the whole sort key. It is
  deterministic on purpose: a retried block must split over the shards exactly as the first
  try did, or a shard would not recognise its part of it (``insert_deduplication_token``), and
  rows a Replacing engine collapses must meet on one shard.
* ``engine = Log`` (the audit log) has no replicated form: it becomes a ReplicatedMergeTree
  ordered by time; immutability then rests on grants (INSERT and SELECT only).
* materialized views are attached to the local tables on every node (``ON CLUSTER``, ``TO
  T_local``, ``FROM S_local``): an insert through ``S`` lands on one shard and feeds that
  shard's ``T_local``.
* ``alter table T`` goes to ``T_local ON CLUSTER`` (projections and columns live there) and,
  for column changes, to ``T`` too; ``create database`` gets ``ON CLUSTER``.
* ``insert ... select`` back-fills run as they are, through the Distributed tables.

Without a cluster nothing changes: plain MergeTree on one server or in chDB. Inserts through a
Distributed table must be synchronous for the sink's idempotence to reach the shards
(``distributed_foreground_insert = 1``; see :data:`CLUSTER_CLIENT_SETTINGS`).

No cluster can run here (chDB's server has no Keeper and no replication): the unit tests check
the generated SQL, and infra/deploy/ documents a cluster to run it on.
"""

from __future__ import annotations

import re

LOCAL_SUFFIX = "_local"
REPLICA_PATH = "/clickhouse/tables/{uuid}/{shard}"
REPLICA_NAME = "{replica}"
# Client settings for a cluster: an insert through a Distributed table reaches every shard
# (and its quorum) before it returns, so a retried block is recognised by each shard.
CLUSTER_CLIENT_SETTINGS: dict[str, int] = {
    "distributed_foreground_insert": 1,
    "insert_distributed_sync": 1,  # the older name dbt-clickhouse checks for
}

_NAME = r"`?([A-Za-z_][A-Za-z0-9_]*)`?"
_CREATE_TABLE = re.compile(
    rf"^\s*create\s+table\s+(if\s+not\s+exists\s+)?{_NAME}\s*\(", re.IGNORECASE | re.DOTALL
)
_CREATE_MV = re.compile(
    rf"^\s*create\s+materialized\s+view\s+(if\s+not\s+exists\s+)?{_NAME}\s+to\s+{_NAME}\s+as\s+",
    re.IGNORECASE | re.DOTALL,
)
_ALTER = re.compile(rf"^\s*alter\s+table\s+{_NAME}\s+(.*)$", re.IGNORECASE | re.DOTALL)
_CREATE_DB = re.compile(rf"^\s*create\s+database\s+(if\s+not\s+exists\s+)?{_NAME}\s*$", re.I)
_ENGINE = re.compile(
    r"\bengine\s*=\s*(Replacing|Summing|Aggregating|Collapsing|VersionedCollapsing)?"
    r"(MergeTree|Log)\b(\s*\(([^)]*)\))?",
    re.IGNORECASE,
)
_ORDER_BY = re.compile(
    r"\border\s+by\s+(\((?:[^()]|\([^()]*\))*\)|[A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE
)
_COLUMN_CHANGE = re.compile(r"^\s*(add|drop|modify|rename|comment)\s+column\b", re.IGNORECASE)


def quote(name: str) -> str:
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def local_name(table: str) -> str:
    return table + LOCAL_SUFFIX


def _matching_paren(text: str, start: int) -> int:
    """Index of the parenthesis closing the one at ``start``."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("unbalanced parentheses")


def _columns(body: str) -> set[str]:
    names = set()
    for line in body.split(","):
        match = re.match(r"\s*`?([A-Za-z_][A-Za-z0-9_]*)`?\s+\S", line)
        if match:
            names.add(match.group(1).lower())
    return names


def _sort_key(tail: str) -> list[str]:
    match = _ORDER_BY.search(tail)
    if not match:
        return []
    text = match.group(1).strip()
    if text.startswith("("):
        text = text[1:-1]
    return [part.strip() for part in text.split(",") if part.strip()]


def sharding_key(columns: set[str], sort_key: list[str], replacing: bool) -> str:
    """Deterministic: a unit's rows together where they can be, else the whole sort key."""
    if "din" in [c.lower() for c in sort_key] or (not replacing and "din" in columns):
        return "cityHash64(din)"
    if sort_key and sort_key != ["tuple()"]:
        return f"cityHash64({', '.join(sort_key)})"
    return "rand()"


def replicated_table(statement: str, cluster: str, database: str) -> list[str]:
    """A ``create table`` as a replicated local table and a Distributed table in front."""
    head = _CREATE_TABLE.match(statement)
    if head is None:
        raise ValueError(f"not a create table statement: {statement[:60]}")
    if_not_exists = "if not exists " if head.group(1) else ""
    table = head.group(2)
    open_at = head.end() - 1
    close_at = _matching_paren(statement, open_at)
    body = statement[open_at + 1 : close_at]
    tail = statement[close_at + 1 :]
    engine = _ENGINE.search(tail)
    if engine is None:
        raise ValueError(f"table {table}: no MergeTree or Log engine to replicate")
    family, kind, args = engine.group(1) or "", engine.group(2), (engine.group(4) or "").strip()
    sort_key = _sort_key(tail)
    order = ""
    if kind.lower() == "log":  # no replicated Log: an append-only MergeTree ordered by time
        family, args = "", ""
        columns = _columns(body)
        sort_key = [c for c in ("at", "occurred_at", "ingested_at") if c in columns][:1]
        order = f" order by {sort_key[0] if sort_key else 'tuple()'}"
    replicated = ", ".join([quote(REPLICA_PATH), quote(REPLICA_NAME)] + ([args] if args else []))
    new_engine = f"engine = Replicated{family}MergeTree({replicated}){order}"
    local_tail = tail[: engine.start()] + new_engine + tail[engine.end() :]
    key = sharding_key(_columns(body), sort_key, replacing=bool(family))
    local = f"{database}.{local_name(table)}"
    return [
        f"create table {if_not_exists}{local} on cluster {quote(cluster)}\n({body}){local_tail}",
        f"create table {if_not_exists}{database}.{table} on cluster {quote(cluster)} as {local}\n"
        f"engine = Distributed({quote(cluster)}, {quote(database)}, "
        f"{quote(local_name(table))}, {key})",
    ]


def _local_sources(select: str, database: str) -> str:
    """``from T`` / ``join T`` -> the local tables: a view reads the block its shard got.

    Only bare names are the platform's own tables (a migration's view reads nothing else);
    qualified names (``system.x``), subqueries and table functions stay as they are.
    """
    return re.sub(
        r"\b(from|join)\s+`?([A-Za-z_][A-Za-z0-9_]*)`?(?![\w.`(])",
        lambda m: f"{m.group(1)} {database}.{local_name(m.group(2))}",
        select,
        flags=re.IGNORECASE,
    )


def clustered(statement: str, cluster: str, database: str) -> list[str]:
    """One migration statement as the statements for a cluster (see the module doc)."""
    if _CREATE_TABLE.match(statement) is not None:
        return replicated_table(statement, cluster, database)
    if (view := _CREATE_MV.match(statement)) is not None:
        if_not_exists = "if not exists " if view.group(1) else ""
        name, target = view.group(2), view.group(3)
        select = _local_sources(statement[view.end() :], database)
        return [
            f"create materialized view {if_not_exists}{database}.{name} on cluster "
            f"{quote(cluster)} to {database}.{local_name(target)} as\n{select}"
        ]
    if (alter := _ALTER.match(statement)) is not None:
        table, action = alter.group(1), alter.group(2)
        out = [f"alter table {database}.{local_name(table)} on cluster {quote(cluster)} {action}"]
        if _COLUMN_CHANGE.match(action):
            out.append(f"alter table {database}.{table} on cluster {quote(cluster)} {action}")
        return out
    if (db := _CREATE_DB.match(statement)) is not None:
        if_not_exists = "if not exists " if db.group(1) else ""
        return [f"create database {if_not_exists}{db.group(2)} on cluster {quote(cluster)}"]
    return [statement]
