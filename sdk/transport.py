"""Production transport security for Kafka (SASL/SCRAM, TLS), one settings section shared by
the platform (Settings.kafka) and the SDK (SdkSettings.kafka): BLOODTRACE_KAFKA__*.

Plumbed into every Kafka client (librdkafka producers and admin, Faust's consumer); NOT
exercised by the tests here (Tansu runs plaintext): check it against your cluster.
Secrets come from a variable or a file and are never logged.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, SecretStr

from models.errors import ConfigError


class KafkaSecurity(BaseModel):
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = None
    # The CA that signed the brokers' certificates (default: the system's).
    ssl_cafile: Path | None = None

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL")

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def password(self) -> str:
        if self.sasl_password is not None and self.sasl_password.get_secret_value():
            return self.sasl_password.get_secret_value()
        if self.sasl_password_file is not None:
            try:
                return self.sasl_password_file.expanduser().read_text().strip()
            except OSError as exc:
                raise ConfigError(
                    f"Cannot read the Kafka password file {self.sasl_password_file}.",
                    hint="Fix BLOODTRACE_KAFKA__SASL_PASSWORD_FILE.",
                ) from exc
        raise ConfigError(
            "Kafka SASL is on but no password is set.",
            hint="Set BLOODTRACE_KAFKA__SASL_PASSWORD or _SASL_PASSWORD_FILE.",
        )

    def librdkafka(self) -> dict[str, Any]:
        """Extra confluent-kafka (librdkafka) configuration; empty for plaintext."""
        if self.security_protocol == "PLAINTEXT":
            return {}
        config: dict[str, Any] = {"security.protocol": self.security_protocol}
        if self.sasl:
            config |= {
                "sasl.mechanisms": self.sasl_mechanism,
                "sasl.username": self.sasl_username or "",
                "sasl.password": self.password(),
            }
        if self.tls and self.ssl_cafile is not None:
            config["ssl.ca.location"] = str(self.ssl_cafile)
        return config

    def faust_credentials(self) -> Any:
        """Faust's broker_credentials (None for plaintext)."""
        import faust

        if self.security_protocol == "PLAINTEXT":
            return None
        context = ssl.create_default_context(
            cafile=str(self.ssl_cafile) if self.ssl_cafile else None
        )
        if self.sasl:
            return faust.SASLCredentials(
                username=self.sasl_username or "",
                password=self.password(),
                mechanism=self.sasl_mechanism,
                ssl_context=context if self.tls else None,
            )
        return faust.SSLCredentials(context)
