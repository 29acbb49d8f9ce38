"""The warehouse: one clickhouse-connect client for chDB on disk or a ClickHouse server.

``chdb:///abs/path`` and ``http(s)://user:password@host:8123`` go through the same code. chDB
is in-process and blocking: callers on an event loop run these functions in a thread.
"""

from __future__ import annotations

import hashlib
import re
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from infra.cluster_ddl import CLUSTER_CLIENT_SETTINGS, clustered, quote
from infra.errors import (
    MigrationFailed,
    WarehouseError,
    WarehouseLocked,
    WarehouseUnavailable,
)
from infra.settings import Settings

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_local = threading.local()
_create_lock = threading.Lock()
# The cluster a client's migrations target (set by connect() from the settings).
_clusters: weakref.WeakKeyDictionary[Client, str] = weakref.WeakKeyDictionary()


def _translate(exc: Exception, dsn_hint: str) -> WarehouseError:
    text = str(exc)
    if "Cannot lock file" in text or "Another server instance" in text:
        return WarehouseLocked(
            f"The embedded warehouse at {dsn_hint} is in use by another process.",
            hint="Only one process may own a chDB directory: stop the running platform "
            "(`bloodtrace serve`) or use its HTTP API, or set BLOODTRACE_DATA_DIR elsewhere.",
        )
    if "already initialized with path" in text:
        return WarehouseLocked(
            f"This process already has another embedded warehouse open; it cannot open {dsn_hint}.",
            hint="chDB allows one data directory per process for its whole life: use one "
            "directory and separate databases (BLOODTRACE_WAREHOUSE_DATABASE).",
        )
    if isinstance(exc, ClickHouseError | OSError) and any(
        s in text for s in ("Connection refused", "Failed to establish", "timed out", "Errno")
    ):
        return WarehouseUnavailable(
            f"The warehouse at {dsn_hint} does not answer: {text.splitlines()[0][:200]}",
            hint="Check BLOODTRACE_WAREHOUSE_URL and that the ClickHouse server is up.",
        )
    return WarehouseError(f"Warehouse error: {text.splitlines()[0][:500] if text else exc!r}")


def _public_dsn(dsn: str) -> str:
    return re.sub(r"//[^@/]*@", "//***@", dsn)


def connect(settings: Settings, *, database: str | None = None) -> Client:
    """A new client on the configured warehouse, with the platform's database created."""
    dsn = settings.warehouse_dsn
    db = database or settings.warehouse_database
    cluster = settings.warehouse_cluster
    try:
        if dsn.startswith("chdb://"):
            Path(dsn.removeprefix("chdb://")).mkdir(parents=True, exist_ok=True)
        with _create_lock:
            bootstrap = clickhouse_connect.get_client(dsn=dsn)
            on_cluster = f" on cluster {quote(cluster)}" if cluster else ""
            bootstrap.command(f"create database if not exists {db}{on_cluster}")
            if dsn.startswith("chdb://"):
                bootstrap.database = db
                return bootstrap
            bootstrap.close()
            if not cluster:
                return clickhouse_connect.get_client(dsn=dsn, database=db)
            client = clickhouse_connect.get_client(
                dsn=dsn, database=db, settings=dict(CLUSTER_CLIENT_SETTINGS)
            )
            _clusters[client] = cluster
            return client
    except WarehouseError:
        raise
    except Exception as exc:
        raise _translate(exc, _public_dsn(dsn)) from exc


def thread_client(settings: Settings) -> Client:
    """One client per thread (clients are not safe to share between threads)."""
    key = (settings.warehouse_dsn, settings.warehouse_database)
    cache: dict[tuple[str, str], Client] = getattr(_local, "clients", None) or {}
    _local.clients = cache
    if key not in cache:
        cache[key] = connect(settings)
    return cache[key]


@contextmanager
def translated(settings: Settings) -> Iterator[None]:
    try:
        yield
    except WarehouseError:
        raise
    except Exception as exc:
        raise _translate(exc, _public_dsn(settings.warehouse_dsn)) from exc


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration file, in order."""
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        version = int(path.name.split("_", 1)[0])
        found.append((version, path.stem, path.read_text()))
    return found


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def cluster_statements(statements: list[str], cluster: str | None, database: str) -> list[str]:
    """The statements as they run: unchanged, or rewritten for a cluster (cluster_ddl)."""
    if not cluster:
        return statements
    return [out for s in statements for out in clustered(s, cluster, database)]


def migrate(client: Client) -> list[str]:
    """Apply every migration not applied yet; safe to run any number of times.

    On a cluster (``warehouse_cluster``) every statement goes through cluster_ddl: replicated
    local tables ON CLUSTER behind Distributed ones.
    """
    cluster = _clusters.get(client)
    database = client.database or "default"
    ledger = (
        "create table if not exists schema_migrations (version UInt32, name String, "
        "checksum String, applied_at DateTime64(3, 'UTC') default now64(3)) "
        "engine = MergeTree order by version"
    )
    for statement in cluster_statements([ledger], cluster, database):
        client.command(statement)
    applied = {row[0] for row in client.query("select version from schema_migrations").result_rows}
    done = []
    for version, name, sql in migrations():
        if version in applied:
            continue
        try:
            for statement in cluster_statements(_statements(sql), cluster, database):
                client.command(statement)
        except Exception as exc:
            raise MigrationFailed(
                f"Migration {name} failed: {str(exc).splitlines()[0][:300]}",
                hint="Statements are idempotent; fix the migration and run it again.",
                migration=name,
            ) from exc
        checksum = hashlib.sha256(sql.encode()).hexdigest()[:16]
        client.insert(
            "schema_migrations", [[version, name, checksum]], ["version", "name", "checksum"]
        )
        done.append(name)
    return done


def insert(
    client: Client,
    table: str,
    rows: Sequence[Sequence[Any]],
    columns: Sequence[str],
    *,
    token: str | None = None,
) -> None:
    """Insert one block; with a token, a retried insert of the same block is dropped."""
    if not rows:
        return
    settings = {"insert_deduplication_token": token} if token else None
    client.insert(table, rows, column_names=list(columns), settings=settings)


def table_counts(client: Client) -> dict[str, int]:
    rows = client.query(
        "select name, total_rows from system.tables where database = currentDatabase() "
        "and engine like '%MergeTree' order by name"
    ).result_rows
    return {name: int(count or 0) for name, count in rows}
