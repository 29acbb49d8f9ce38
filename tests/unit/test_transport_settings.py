"""Kafka SASL/SCRAM + TLS settings become librdkafka options (not run against a real SASL
cluster here: Tansu runs plaintext); the password never shows in the settings' repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.errors import ConfigError
from infra.settings import Settings


def test_plaintext_adds_nothing(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).kafka.librdkafka() == {}


def test_sasl_ssl_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "kafka.password"
    secret.write_text("s3cr3t\n")
    monkeypatch.setenv("BLOODTRACE_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("BLOODTRACE_KAFKA__SASL_USERNAME", "bloodtrace")
    monkeypatch.setenv("BLOODTRACE_KAFKA__SASL_PASSWORD_FILE", str(secret))
    monkeypatch.setenv("BLOODTRACE_KAFKA__SSL_CAFILE", "/etc/ssl/kafka-ca.pem")
    settings = Settings(data_dir=tmp_path)
    assert settings.kafka.librdkafka() == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "bloodtrace",
        "sasl.password": "s3cr3t",
        "ssl.ca.location": "/etc/ssl/kafka-ca.pem",
    }
    assert settings.sdk_settings().kafka.librdkafka()["sasl.username"] == "bloodtrace"
    assert "s3cr3t" not in repr(settings)


def test_sasl_without_a_password_is_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, kafka={"security_protocol": "SASL_PLAINTEXT"})
    with pytest.raises(ConfigError, match="no password"):
        settings.kafka.librdkafka()
