"""The SDK has settings of its own and never makes up a pseudonym key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from infra.errors import ConfigError
from infra.settings import Settings, get_settings
from models.pseudonym import pseudonymise
from sdk.producer import Producer
from sdk.settings import SdkSettings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    for name in list(os.environ):
        if name.startswith("BLOODTRACE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # ./var and ./.env are this test's own
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def key_files(root: Path) -> list[Path]:
    return list(root.rglob("*.key"))


def test_an_sdk_without_a_key_refuses_to_start_and_makes_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BLOODTRACE_BROKER_URL", "kafka1:9092")
    with pytest.raises(ConfigError) as info:
        Producer.from_settings()
    assert "BLOODTRACE_PSEUDONYM_KEY" in info.value.message
    assert "BLOODTRACE_PSEUDONYM_KEY_FILE" in info.value.message
    assert info.value.exit_code == 2
    assert key_files(tmp_path) == []


def test_a_local_sdk_without_a_platform_key_refuses_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        Producer(SdkSettings())
    assert str(tmp_path / "var" / "secrets" / "pseudonym.key") in info.value.message
    assert key_files(tmp_path) == []


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLOODTRACE_BROKER_URL", "kafka1:9092")
    monkeypatch.setenv("BLOODTRACE_PSEUDONYM_KEY", "shared-key")
    settings = SdkSettings.load()
    assert settings.pseudonym_secret() == b"shared-key"
    assert "shared-key" not in repr(settings)


def test_the_key_comes_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key_file = tmp_path / "k"
    key_file.write_text("from-a-file\n")
    monkeypatch.setenv("BLOODTRACE_BROKER_URL", "kafka1:9092")
    monkeypatch.setenv("BLOODTRACE_PSEUDONYM_KEY_FILE", str(key_file))
    assert SdkSettings.load().pseudonym_secret() == b"from-a-file"


@pytest.mark.parametrize("content", [None, ""])
def test_a_missing_or_empty_key_file_is_named(tmp_path: Path, content: str | None) -> None:
    key_file = tmp_path / "k"
    if content is not None:
        key_file.write_text(content)
    settings = SdkSettings(broker_url="k:9092", pseudonym_key_file=key_file)
    with pytest.raises(ConfigError) as info:
        settings.pseudonym_secret()
    assert str(key_file) in info.value.message


def test_a_local_sdk_reads_the_local_platform_key(tmp_path: Path) -> None:
    platform_key = Settings(data_dir=tmp_path / "var").pseudonym_secret()  # the platform's
    assert SdkSettings().pseudonym_secret() == platform_key
    # ... but not when it talks to a broker elsewhere: that platform's key may differ.
    with pytest.raises(ConfigError):
        SdkSettings(broker_url="kafka1:9092").pseudonym_secret()


def test_the_platform_builds_its_producers_settings(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, broker_url="b1:9092,b2:9092", topic_prefix="tp", pseudonym_key="pk"
    )
    sdk = settings.sdk_settings("http")
    assert sdk.bootstrap_servers == "b1:9092,b2:9092"
    assert sdk.topic("events.raw") == "tp.events.raw"
    assert sdk.source == "http"
    assert sdk.pseudonym_secret() == b"pk"
    assert sdk.ingest == settings.ingest


def test_producer_still_takes_the_platform_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, broker_url="b1:9092", pseudonym_key="pk")
    producer = Producer(settings, source="file")
    assert producer.settings.source == "file"
    outcome_key = producer.settings.pseudonym_secret()
    assert pseudonymise("110101199001011234", outcome_key) == pseudonymise(
        "110101199001011234", b"pk"
    )


def test_sdk_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLOODTRACE_BROKER_URL", "no-port")
    with pytest.raises(ConfigError) as info:
        SdkSettings.load()
    assert "BLOODTRACE_BROKER_URL=no-port" in info.value.message
