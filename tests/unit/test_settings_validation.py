"""Settings that cannot be right are refused at start, naming the variable and what is allowed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.errors import ConfigError
from infra.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    for name in list(os.environ):
        if name.startswith("BLOODTRACE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> ConfigError:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        get_settings()
    return info.value


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("BLOODTRACE_SINK_BATCH_SIZE", "-5", "greater than 0"),
        ("BLOODTRACE_SINK_BATCH_SIZE", "0", "greater than 0"),
        ("BLOODTRACE_SINK_BATCH_SECONDS", "-0.2", "greater than 0"),
        ("BLOODTRACE_TOPIC_PARTITIONS", "0", "greater than 0"),
        ("BLOODTRACE_EMBEDDED_BROKER_PORT", "-1", "greater than or equal to 1"),
        ("BLOODTRACE_API_PORT", "70000", "less than or equal to 65535"),
        ("BLOODTRACE_BROKER_REBALANCE_TIMEOUT", "-6", "greater than 0"),
        ("BLOODTRACE_DONOR__WHOLE_TO_WHOLE_MIN_DAYS", "-1", "greater than or equal to 0"),
        ("BLOODTRACE_DONOR__PLATELETS_TO_PLATELETS_MIN_DAYS", "-14", "greater than or equal to 0"),
        ("BLOODTRACE_INVENTORY__EVALUATE_MIN_SECONDS", "-1", "greater than or equal to 0"),
        ("BLOODTRACE_COLDCHAIN__SILENCE_CHECK_SECONDS", "0", "greater than 0"),
        ("BLOODTRACE_LIFECYCLE__LOST_UNIT_CHECK_SECONDS", "-5", "greater than 0"),
        ("BLOODTRACE_QUALITY__SCHEDULE_SECONDS", "-1", "greater than or equal to 0"),
        ("BLOODTRACE_QUALITY__VOLUME_TOLERANCE_FRACTION", "1.5", "less than or equal to 1"),
        ("BLOODTRACE_INGEST__MAX_EVENT_BYTES", "0", "greater than 0"),
        ("BLOODTRACE_DBT__THREADS", "0", "greater than 0"),
    ],
)
def test_impossible_numbers_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, allowed: str
) -> None:
    error = refused(monkeypatch, name, value)
    assert f"{name}={value}" in error.message
    assert allowed in error.message
    assert error.exit_code == 2


def test_cross_field_rules_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    error = refused(monkeypatch, "BLOODTRACE_DONOR__MIN_AGE_YEARS", "70")
    assert "BLOODTRACE_DONOR" in error.message and "min_age_years" in error.message
    monkeypatch.delenv("BLOODTRACE_DONOR__MIN_AGE_YEARS")
    error = refused(monkeypatch, "BLOODTRACE_INVENTORY__SHORT_MIN_DAYS", "9")
    assert "BLOODTRACE_INVENTORY" in error.message


def test_unknown_time_zone_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    error = refused(monkeypatch, "BLOODTRACE_DBT__LOCAL_TIMEZONE", "Mars/Olympus")
    assert "BLOODTRACE_DBT__LOCAL_TIMEZONE" in error.message


@pytest.mark.parametrize("url", ["foo://x", "ftp://h:21", "localhost:8123", "clickhouse://h"])
def test_unknown_warehouse_schemes_are_refused(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    error = refused(monkeypatch, "BLOODTRACE_WAREHOUSE_URL", url)
    assert "BLOODTRACE_WAREHOUSE_URL" in error.message
    assert "chdb://" in error.message and "http://" in error.message


def test_a_refused_warehouse_url_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    error = refused(monkeypatch, "BLOODTRACE_WAREHOUSE_URL", "foo://admin:s3cret@h:8123")
    assert "s3cret" not in str(error) and "s3cret" not in str(error.to_dict())


@pytest.mark.parametrize(
    "url", ["chdb:///tmp/wh", "http://ch:8123", "https://u:p@ch.example:8443", ""]
)
def test_supported_warehouse_urls_are_taken(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("BLOODTRACE_WAREHOUSE_URL", url)
    assert get_settings().warehouse_dsn


@pytest.mark.parametrize("url", ["kafka1", "kafka1:port", "http://k:9092", "k:9092,,k2", "k:0"])
def test_malformed_broker_lists_are_refused(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    error = refused(monkeypatch, "BLOODTRACE_BROKER_URL", url)
    assert "BLOODTRACE_BROKER_URL" in error.message and "host:port" in error.message


@pytest.mark.parametrize(
    ("url", "bootstrap"),
    [
        ("kafka1:9092,kafka2:9092", "kafka1:9092,kafka2:9092"),
        ("kafka://k1:9092, k2:9093", "k1:9092,k2:9093"),
        ("127.0.0.1:19092", "127.0.0.1:19092"),
        ("[::1]:9092", "[::1]:9092"),
    ],
)
def test_broker_lists_are_taken(monkeypatch: pytest.MonkeyPatch, url: str, bootstrap: str) -> None:
    monkeypatch.setenv("BLOODTRACE_BROKER_URL", url)
    assert get_settings().bootstrap_servers == bootstrap


def test_database_and_topic_names_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    error = refused(monkeypatch, "BLOODTRACE_WAREHOUSE_DATABASE", "x; drop table events")
    assert "BLOODTRACE_WAREHOUSE_DATABASE" in error.message
    monkeypatch.delenv("BLOODTRACE_WAREHOUSE_DATABASE")
    error = refused(monkeypatch, "BLOODTRACE_TOPIC_PREFIX", "blood trace")
    assert "BLOODTRACE_TOPIC_PREFIX" in error.message


def test_settings_built_in_code_are_checked_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        Settings(data_dir=tmp_path, sink_batch_size=-5)
    assert "BLOODTRACE_SINK_BATCH_SIZE=-5" in info.value.message


def test_the_defaults_are_valid() -> None:
    assert get_settings().sink_batch_size > 0


def test_the_cli_prints_the_error_and_exits_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLOODTRACE_")}
    env.update(BLOODTRACE_SINK_BATCH_SIZE="-5", BLOODTRACE_DATA_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "cli", "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "BLOODTRACE_SINK_BATCH_SIZE=-5: must be greater than 0" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr + done.stdout
