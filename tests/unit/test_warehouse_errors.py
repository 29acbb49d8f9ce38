"""Every warehouse error reaches callers as a BloodtraceError: transient (retry) or terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import clickhouse_connect
import pytest
from clickhouse_connect.driver.exceptions import (
    DatabaseError,
    OperationalError,
    ProgrammingError,
)
from harness import free_port

from infra.errors import (
    BloodtraceError,
    WarehouseBusy,
    WarehouseError,
    WarehouseQueryFailed,
    WarehouseUnavailable,
)
from infra.settings import Settings
from infra.warehouse import connect, thread_client, translate
from streams.app import retrying


def _real_connection_error() -> Exception:
    """The error clickhouse-connect itself raises when nothing listens at the address."""
    try:
        clickhouse_connect.get_client(host="127.0.0.1", port=free_port(), connect_timeout=2)
    except Exception as exc:
        return exc
    raise AssertionError("a client connected to a port nobody listens on")


def test_a_refused_connection_is_transient() -> None:
    error = translate(_real_connection_error(), "http://127.0.0.1")
    assert isinstance(error, WarehouseUnavailable)
    assert error.transient and error.http_status == 503 and error.hint


@pytest.mark.parametrize(
    ("raised", "expected", "transient"),
    [
        (
            OperationalError("Error executing HTTP request: Connection reset by peer"),
            WarehouseUnavailable,
            True,
        ),
        (OperationalError("Error HTTPConnectionPool: Read timed out."), WarehouseUnavailable, True),
        (ConnectionRefusedError(111, "Connection refused"), WarehouseUnavailable, True),
        (TimeoutError("timed out"), WarehouseUnavailable, True),
        (DatabaseError("HTTP driver received HTTP status 503"), WarehouseUnavailable, True),
        (
            DatabaseError(
                "Code: 252. DB::Exception: Too many parts (TOO_MANY_PARTS)",
                code=252,
                name="TOO_MANY_PARTS",
            ),
            WarehouseBusy,
            True,
        ),
        (
            DatabaseError(
                "Code: 241. DB::Exception: Memory limit exceeded (MEMORY_LIMIT_EXCEEDED)", code=241
            ),
            WarehouseBusy,
            True,
        ),
        (
            DatabaseError(
                "Received ClickHouse exception, code: 159, server response: Timeout exceeded (TIMEOUT_EXCEEDED)"
            ),
            WarehouseBusy,
            True,
        ),
        (
            DatabaseError(
                "Code: 62. DB::Exception: Syntax error (SYNTAX_ERROR)", code=62, name="SYNTAX_ERROR"
            ),
            WarehouseQueryFailed,
            False,
        ),
        (
            DatabaseError("Code: 60. DB::Exception: Unknown table (UNKNOWN_TABLE)", code=60),
            WarehouseQueryFailed,
            False,
        ),
        (
            DatabaseError("Code: 53. Type mismatch (TYPE_MISMATCH)", code=53),
            WarehouseQueryFailed,
            False,
        ),
        (ProgrammingError("The client has been closed"), WarehouseQueryFailed, False),
        (TypeError("an int was expected for column units"), WarehouseQueryFailed, False),
    ],
)
def test_errors_are_sorted_into_transient_and_terminal(
    raised: Exception, expected: type[BloodtraceError], transient: bool
) -> None:
    error = translate(raised, "chdb:///x")
    assert type(error) is expected
    assert error.transient is transient
    assert error.message


def test_bad_credentials_say_which_setting() -> None:
    error = translate(
        DatabaseError("Code: 516. Authentication failed (AUTHENTICATION_FAILED)", code=516),
        "http://***@h:8123",
    )
    assert not error.transient
    assert "BLOODTRACE_WAREHOUSE_URL" in (error.hint or "")


def test_a_real_chdb_error_reaches_callers_translated(warehouse_settings: Settings) -> None:
    client = connect(warehouse_settings)
    with pytest.raises(WarehouseQueryFailed) as info:
        client.query("selec 1")
    assert "SYNTAX_ERROR" in info.value.message or "Syntax error" in info.value.message
    with pytest.raises(WarehouseQueryFailed):
        client.command("insert into no_such_table values (1)")
    with pytest.raises(WarehouseQueryFailed):
        client.insert("no_such_table", [[1]], ["x"])
    # The client keeps working after a refused statement.
    assert client.query("select 41 + 1").result_rows == [(42,)]


def test_thread_client_translates_too(warehouse_settings: Settings) -> None:
    with pytest.raises(WarehouseError):
        thread_client(warehouse_settings).query_df("select * from missing_table")


def test_an_unreachable_server_is_unavailable_and_retried(tmp_path: Any) -> None:
    port = free_port()
    settings = Settings(
        data_dir=tmp_path, warehouse_url=f"http://127.0.0.1:{port}", pseudonym_key="k"
    )
    calls: list[int] = []

    def write() -> int:
        calls.append(1)
        connect(settings)
        return 1

    with pytest.raises(WarehouseUnavailable):
        retrying(write, attempts=2, first_delay=0.01)
    assert len(calls) == 2  # retried once, then reported


def test_terminal_errors_are_not_retried() -> None:
    calls: list[int] = []

    def write() -> None:
        calls.append(1)
        raise WarehouseQueryFailed("bad statement")

    with pytest.raises(WarehouseQueryFailed):
        retrying(write, attempts=5, first_delay=0.01)
    assert calls == [1]


def test_retrying_stops_when_asked() -> None:
    calls: list[int] = []
    stop: Callable[[], bool] = lambda: len(calls) >= 3  # noqa: E731

    def write() -> None:
        calls.append(1)
        raise WarehouseUnavailable("down")

    with pytest.raises(WarehouseUnavailable):
        retrying(write, first_delay=0.01, stopping=stop)
    assert len(calls) == 3


@pytest.mark.parametrize("command", [["lookback", "list"], ["trace", "G123498654321H"]])
def test_the_cli_says_the_warehouse_is_down_without_a_traceback(
    tmp_path: Any, command: list[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLOODTRACE_")}
    env.update(
        BLOODTRACE_DATA_DIR=str(tmp_path),
        BLOODTRACE_WAREHOUSE_URL=f"http://127.0.0.1:{free_port()}",
        BLOODTRACE_API_PORT=str(free_port()),
        BLOODTRACE_PSEUDONYM_KEY="k",
    )
    done = subprocess.run(
        [sys.executable, "-m", "cli", *command],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    assert "does not answer (connection refused)" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr + done.stdout
