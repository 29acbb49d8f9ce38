"""Shared fixtures: one real Tansu broker per test session; platforms per test.

The warehouse profile of a session: embedded chDB (default) or a real ClickHouse 26.9 HTTP
server from chdb-core (``--warehouse=server`` or ``BLOODTRACE_TEST_WAREHOUSE=server``), started
once by the session (`chserver` fixture). Every fixture below hands out the chosen profile's
``warehouse_dsn``; tests that need a server whatever the profile use `chserver` directly.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import (
    FUZZ_REQUESTS,
    ThreadPlatform,
    install_default_token,
    platform_settings,
    tansu,
    thread_platform,
)

from infra.chserver import ChServer
from infra.chserver import start as start_chserver
from infra.settings import Settings

WAREHOUSE_PROFILES = ("embedded", "server")
install_default_token()  # test requests carry the test administrator's token (harness)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--warehouse",
        choices=WAREHOUSE_PROFILES,
        default=os.environ.get("BLOODTRACE_TEST_WAREHOUSE", "embedded"),
        help="warehouse profile for integration tests: embedded chDB or a ClickHouse server "
        "(default from BLOODTRACE_TEST_WAREHOUSE, else embedded)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`make test` runs the integration suite once per profile; tests that use a server
    whatever the profile (marked ``any_profile``) need to run in one pass only."""
    if config.getoption("--warehouse") != "server":
        return
    skip = pytest.mark.skip(
        reason="uses its own ClickHouse server in every profile: ran in the embedded pass"
    )
    for item in items:
        if item.get_closest_marker("any_profile"):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FUZZ_REQUESTS:
        by_caller = ", ".join(f"{caller} {n}" for caller, n in FUZZ_REQUESTS.items())
        terminalreporter.write_line(
            f"API fuzz (schemathesis): {sum(FUZZ_REQUESTS.values())} requests ({by_caller})"
        )


def pytest_report_header(config: pytest.Config) -> str:
    return f"warehouse profile: {config.getoption('--warehouse')}"


@pytest.fixture(scope="session")
def warehouse_profile(request: pytest.FixtureRequest) -> str:
    """ "embedded" or "server": which warehouse this session's tests run against."""
    return str(request.config.getoption("--warehouse"))


@pytest.fixture(scope="session")
def chserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChServer]:
    """A real ClickHouse 26.9 HTTP server (chdb-core in a child process) for the session.

    ``chserver.url`` is a BLOODTRACE_WAREHOUSE_URL; tests use databases of their own on it.
    It is shared: a test that takes a server down (an outage) starts its own instead,
    ``ChServer(tmp_path / "ch", free_port(), free_port())`` as a context manager, whose
    ``stop()`` + ``start()`` / ``restart()`` keep the path, ports and data.
    """
    server = start_chserver(tmp_path_factory.mktemp("chserver"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real Tansu broker shared by the session (topics per test)."""
    with tansu(tmp_path_factory.mktemp("broker")) as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def warehouse_dsn(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, warehouse_profile: str
) -> str:
    """The session's warehouse: one for all tests, each test on a database of its own (see
    the `settings` and `warehouse_settings` fixtures). chDB allows one data path per process
    for its whole life, hence one path; the server profile shares one server the same way."""
    if warehouse_profile == "server":
        server: ChServer = request.getfixturevalue("chserver")
        return server.url
    return f"chdb://{tmp_path_factory.mktemp('chdb')}/warehouse"


@pytest.fixture
def process_warehouse(warehouse_profile: str, warehouse_dsn: str) -> dict[str, str]:
    """Settings overrides for a platform in a child process: on the server profile the
    session's server and a database of its own; embedded, nothing (the child owns a chDB
    directory under its data_dir, since the test process may hold the session's)."""
    if warehouse_profile != "server":
        return {}
    return {"warehouse_url": warehouse_dsn, "warehouse_database": f"t_{uuid.uuid4().hex[:10]}"}


@pytest.fixture
def warehouse_settings(tmp_path: Path, warehouse_dsn: str) -> Settings:
    """Settings for a test that needs only the warehouse: a fresh database of its own."""
    return Settings(
        data_dir=tmp_path,
        warehouse_url=warehouse_dsn,
        warehouse_database=f"t_{uuid.uuid4().hex[:10]}",
        pseudonym_key="test-key",
    )


@pytest.fixture
def settings(tmp_path: Path, broker: str, warehouse_dsn: str) -> Settings:
    """Settings for a platform in this process: own topics, group, API port and database."""
    return platform_settings(
        tmp_path,
        broker,
        warehouse_url=warehouse_dsn,
        warehouse_database=f"t_{uuid.uuid4().hex[:10]}",
    )


@pytest.fixture
def platform(settings: Settings) -> Iterator[ThreadPlatform]:
    """A running platform in this process: query chDB with infra.warehouse.thread_client."""
    with thread_platform(settings) as handle:
        yield handle
