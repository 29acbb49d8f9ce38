"""Shared fixtures: one real Tansu broker per test session; platforms per test."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import ThreadPlatform, platform_settings, tansu, thread_platform

from infra.settings import Settings


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real Tansu broker shared by the session (topics per test)."""
    with tansu(tmp_path_factory.mktemp("broker")) as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def warehouse_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """chDB allows one data path per process for its whole life: tests share one path and
    each gets its own database (see the `settings` and `warehouse_settings` fixtures)."""
    return f"chdb://{tmp_path_factory.mktemp('chdb')}/warehouse"


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
