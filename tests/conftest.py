"""Shared fixtures: one real Tansu broker per test session; platforms per test."""

from __future__ import annotations

import sys
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


@pytest.fixture
def settings(tmp_path: Path, broker: str) -> Settings:
    return platform_settings(tmp_path, broker)


@pytest.fixture
def platform(settings: Settings) -> Iterator[ThreadPlatform]:
    """A running platform in this process: query chDB with infra.warehouse.thread_client."""
    with thread_platform(settings) as handle:
        yield handle
