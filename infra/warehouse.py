"""The warehouse: one access layer for chDB on disk or a ClickHouse server.

``chdb:///abs/path`` and ``http(s)://user:password@host:8123`` go through the same code. Every
call goes through :class:`WarehouseClient`, which turns every clickhouse-connect and chDB error
into the project's error tree (:func:`translate`): transient ones (connection refused or reset,
timeouts, too many parts, memory limits) are retried by the stream and answered 503 by the API;
terminal ones (syntax, unknown table, wrong types) are reported at once. After a connection
failure the client reconnects on its next call. chDB is in-process and blocking: callers on an
event loop run these functions in a thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import OperationalError
from clickhouse_connect.driver.query import QueryResult
from clickhouse_connect.driver.summary import QuerySummary

from infra.cluster_ddl import CLUSTER_CLIENT_SETTINGS, clustered, quote
from infra.errors import (
    BloodtraceError,
    MigrationFailed,
    WarehouseBusy,
    WarehouseLocked,
    WarehouseQueryFailed,
    WarehouseUnavailable,
)
from infra.settings import Settings
from sdk.settings import read_key_file

# clickhouse-connect logs each failed request as a warning before raising; every such error
# reaches callers translated (and the CLI prints it once), so only its errors are logged.
logging.getLogger("clickhouse_connect").setLevel(logging.ERROR)
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_local = threading.local()
_create_lock = threading.Lock()
T = TypeVar("T")

# ClickHouse error codes where the same statement may succeed later: the server is overloaded,
# shutting down or between replicas. Every other server error is terminal.
TRANSIENT_CODES: dict[int, str] = {
    159: "TIMEOUT_EXCEEDED",
    160: "TOO_SLOW",
    173: "CANNOT_ALLOCATE_MEMORY",
    202: "TOO_MANY_SIMULTANEOUS_QUERIES",
    203: "NO_FREE_CONNECTION",
    209: "SOCKET_TIMEOUT",
    210: "NETWORK_ERROR",
    236: "ABORTED",
    241: "MEMORY_LIMIT_EXCEEDED",
    242: "TABLE_IS_READ_ONLY",
    252: "TOO_MANY_PARTS",
    279: "ALL_CONNECTION_TRIES_FAILED",
    285: "TOO_FEW_LIVE_REPLICAS",
    319: "UNKNOWN_STATUS_OF_INSERT",
    394: "QUERY_WAS_CANCELLED",
    425: "SYSTEM_ERROR",
    439: "CANNOT_SCHEDULE_TASK",
    473: "DEADLOCK_AVOIDED",
    999: "KEEPER_EXCEPTION",
    1000: "POCO_EXCEPTION",
}
# Codes that mean the configured credentials are wrong: terminal, and the setting is named.
CREDENTIAL_CODES = {192, 193, 194, 497, 516}
# Transport failures as clickhouse-connect and urllib3 word them (they carry no server code).
_CONNECTION_WORDS = (
    "connection refused",
    "connection reset",
    "connection aborted",
    "failed to establish",
    "max retries exceeded",
    "remote end closed",
    "remotedisconnected",
    "broken pipe",
    "timed out",
    "name or service not known",
    "failed to read response",
    "error executing http request",
)
# (The first of these found in an error names its reason: specific ones come first.)
_CODE_IN_TEXT = re.compile(r"\b[Cc]ode:\s*(\d+)")
_HTTP_STATUS_IN_TEXT = re.compile(r"HTTP status (\d{3})")


def _first_line(text: str, limit: int = 300) -> str:
    return text.strip().splitlines()[0][:limit] if text.strip() else ""


def _error_code(exc: BaseException, text: str) -> int | None:
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    match = _CODE_IN_TEXT.search(text)
    return int(match.group(1)) if match else None


def translate(exc: BaseException, where: str) -> BloodtraceError:
    """The project's error for any error raised while talking to the warehouse at ``where``."""
    if isinstance(exc, BloodtraceError):
        return exc
    text = str(exc)
    lowered = text.lower()
    if "Cannot lock file" in text or "Another server instance" in text:
        return WarehouseLocked(
            f"The embedded warehouse at {where} is in use by another process.",
            hint="Only one process may own a chDB directory: stop the running platform "
            "(`bloodtrace serve`) or use its HTTP API, or set BLOODTRACE_DATA_DIR elsewhere.",
        )
    if "already initialized with path" in text:
        return WarehouseLocked(
            f"This process already has another embedded warehouse open; it cannot open {where}.",
            hint="chDB allows one data directory per process for its whole life: use one "
            "directory and separate databases (BLOODTRACE_WAREHOUSE_DATABASE).",
        )
    code = _error_code(exc, text)
    summary = _first_line(text) or type(exc).__name__
    if code in TRANSIENT_CODES:
        return WarehouseBusy(
            f"The warehouse at {where} cannot take the work now ({TRANSIENT_CODES[code]}): "
            f"{summary}",
            hint="Retried automatically; if it lasts, check the ClickHouse server's load, "
            "memory and parts (system.parts).",
            code=code,
        )
    if code in CREDENTIAL_CODES:
        return WarehouseQueryFailed(
            f"The warehouse at {where} refused the credentials: {summary}",
            hint="Check the user and password in BLOODTRACE_WAREHOUSE_URL.",
            code=code,
        )
    status = _HTTP_STATUS_IN_TEXT.search(text)
    transport = (
        isinstance(exc, OSError | ConnectionError | TimeoutError)
        or (isinstance(exc, OperationalError) and code is None)
        or (code is None and any(word in lowered for word in _CONNECTION_WORDS))
        or (status is not None and int(status.group(1)) in (429, 502, 503, 504))
    )
    if transport:
        return WarehouseUnavailable(
            f"The warehouse at {where} does not answer ({_transport_reason(lowered, status)}).",
            hint="Check that the ClickHouse server is up and BLOODTRACE_WAREHOUSE_URL points at "
            "it; the platform keeps retrying its writes until it is back.",
            detail=summary,
        )
    return WarehouseQueryFailed(
        f"The warehouse refused a statement: {summary}",
        hint="A retry cannot help: this is a fault of the statement or the schema "
        "(run `bloodtrace migrate`?).",
        code=code,
    )


def _transport_reason(lowered: str, status: re.Match[str] | None) -> str:
    """A few words on why a connection failed, instead of urllib3's paragraph."""
    if status is not None:
        return f"HTTP status {status.group(1)}"
    for words in _CONNECTION_WORDS:
        if words in lowered:
            return words.replace("remotedisconnected", "remote end closed")
    return "no connection"


def _public_dsn(dsn: str) -> str:
    return re.sub(r"//[^@/]*@", "//***@", dsn)


class WarehouseClient:
    """The clickhouse-connect client the platform uses, with every error translated.

    Keeps the part of the Client API the code uses (query, query_df, command, insert, close).
    A call that fails because the warehouse does not answer drops the connection, so the next
    call connects again: a warehouse that comes back is used again without a restart.
    """

    def __init__(
        self,
        dsn: str,
        database: str,
        client: Client | None = None,
        *,
        cluster: str | None = None,
        tls: dict[str, Any] | None = None,
    ) -> None:
        self.dsn = dsn
        self.tls = tls or {}  # kept for reconnecting (warehouse_tls)
        self.database = database
        # The cluster this client's migrations target (BLOODTRACE_WAREHOUSE_CLUSTER).
        self.cluster = cluster
        self.where = _public_dsn(dsn)
        self._client = client

    @property
    def raw(self) -> Client:
        """The clickhouse-connect client itself, for code that needs more (untranslated)."""
        return self._connected()

    def _connected(self) -> Client:
        if self._client is None:
            self._client = _open(self.dsn, self.database, self.cluster, self.tls)
        return self._client

    def _call(self, action: Callable[[Client], T]) -> T:
        client = self._connected()
        try:
            return action(client)
        except Exception as exc:
            error = translate(exc, self.where)
            if isinstance(error, WarehouseUnavailable):
                self._drop()
            raise error from exc

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None and not self.dsn.startswith("chdb://"):
            with contextlib.suppress(Exception):  # the connection may already be gone
                client.close()

    def query(
        self,
        query: str,
        parameters: Sequence[Any] | dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> QueryResult:
        return self._call(
            lambda c: c.query(query, parameters=parameters, settings=settings, **kwargs)
        )

    def query_df(
        self,
        query: str,
        parameters: Sequence[Any] | dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        return self._call(
            lambda c: c.query_df(query, parameters=parameters, settings=settings, **kwargs)
        )

    def command(
        self,
        cmd: str,
        parameters: Sequence[Any] | dict[str, Any] | None = None,
        data: str | bytes | None = None,
        settings: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> str | int | Sequence[str] | QuerySummary:
        return self._call(
            lambda c: c.command(cmd, parameters=parameters, data=data, settings=settings, **kwargs)
        )

    def insert(
        self,
        table: str,
        data: Sequence[Sequence[Any]],
        column_names: str | Sequence[str] = "*",
        *,
        settings: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> QuerySummary:
        return self._call(
            lambda c: c.insert(table, data, column_names=column_names, settings=settings, **kwargs)
        )

    def set_client_setting(self, key: str, value: Any) -> None:
        self._connected().set_client_setting(key, value)

    def close(self) -> None:
        self._drop()


def _open(
    dsn: str, database: str, cluster: str | None = None, tls: dict[str, Any] | None = None
) -> Client:
    """A clickhouse-connect client on ``database``, created if missing (errors translated)."""
    try:
        if dsn.startswith("chdb://"):
            Path(dsn.removeprefix("chdb://")).mkdir(parents=True, exist_ok=True)
        with _create_lock:
            tls = tls or {}
            bootstrap = clickhouse_connect.get_client(dsn=dsn, **tls)
            on_cluster = f" on cluster {quote(cluster)}" if cluster else ""
            bootstrap.command(f"create database if not exists {database}{on_cluster}")
            if dsn.startswith("chdb://"):
                bootstrap.database = database
                return bootstrap
            bootstrap.close()
            if not cluster:
                return clickhouse_connect.get_client(dsn=dsn, database=database, **tls)
            return clickhouse_connect.get_client(
                dsn=dsn, database=database, settings=dict(CLUSTER_CLIENT_SETTINGS), **tls
            )
    except Exception as exc:
        raise translate(exc, _public_dsn(dsn)) from exc


def connect(settings: Settings, *, database: str | None = None) -> WarehouseClient:
    """A new client on the configured warehouse, with the platform's database created."""
    dsn = settings.warehouse_dsn
    db = database or settings.warehouse_database
    cluster = settings.warehouse_cluster
    tls = warehouse_tls(settings)
    return WarehouseClient(dsn, db, _open(dsn, db, cluster, tls), cluster=cluster, tls=tls)


def warehouse_tls(settings: Settings) -> dict[str, Any]:
    """clickhouse-connect options for https:// (CA file) and a password read from a file.
    Not exercised by the tests here (the test server is plain http)."""
    options: dict[str, Any] = {}
    if settings.warehouse_ca_file is not None:
        options["ca_cert"] = str(settings.warehouse_ca_file)
    if settings.warehouse_password_file is not None:
        options["password"] = read_key_file(
            settings.warehouse_password_file, "BLOODTRACE_WAREHOUSE_PASSWORD_FILE"
        ).decode()
    return options


def thread_client(settings: Settings) -> WarehouseClient:
    """One client per thread (clients are not safe to share between threads)."""
    key = (settings.warehouse_dsn, settings.warehouse_database)
    cache: dict[tuple[str, str], WarehouseClient] = getattr(_local, "clients", None) or {}
    _local.clients = cache
    if key not in cache:
        cache[key] = connect(settings)
    return cache[key]


@contextmanager
def translated(settings: Settings) -> Iterator[None]:
    """Translate any error raised inside into the project's tree (for code using ``raw``)."""
    try:
        yield
    except BloodtraceError:
        raise
    except Exception as exc:
        raise translate(exc, _public_dsn(settings.warehouse_dsn)) from exc


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


def migrate(client: WarehouseClient) -> list[str]:
    """Apply every migration not applied yet; safe to run any number of times.

    On a cluster (``warehouse_cluster``) every statement goes through cluster_ddl: replicated
    local tables ON CLUSTER behind Distributed ones.
    """
    cluster = client.cluster
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
        except BloodtraceError as exc:
            if exc.transient:  # the warehouse went away: not the migration's fault
                raise
            raise MigrationFailed(
                f"Migration {name} failed: {exc.message[:300]}",
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
    client: WarehouseClient,
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


def table_counts(client: WarehouseClient) -> dict[str, int]:
    rows = client.query(
        "select name, total_rows from system.tables where database = currentDatabase() "
        "and engine like '%MergeTree' order by name"
    ).result_rows
    return {name: int(count or 0) for name, count in rows}
