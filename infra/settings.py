"""The one settings object. Every key is an env var with the ``BLOODTRACE_`` prefix.

Nested sections use ``__``: ``BLOODTRACE_DONOR__MIN_AGE_YEARS=18``. A ``.env`` file in the
working directory is read too. Secrets are ``SecretStr`` and never printed.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from infra.errors import ConfigError
from models.rules import (
    ColdChainRules,
    DbtRules,
    DonorRules,
    HonourRules,
    IngestRules,
    InventoryRules,
    LifecycleRules,
    QualityRules,
    ScreeningRules,
    StorageRules,
)

ENV_PREFIX = "BLOODTRACE_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    # Where the embedded warehouse, secrets, logs and reports live.
    data_dir: Path = Path("var")

    # Broker: empty means "start the embedded Tansu broker on embedded_broker_port".
    # Otherwise a Kafka bootstrap list, e.g. "kafka1:9092,kafka2:9092".
    broker_url: str | None = None
    embedded_broker_port: int = 19092
    # Where the embedded broker keeps its topics: "s3" (a local S3 server under
    # <data_dir>/broker: an acknowledged event survives any crash or restart) or "memory"
    # (faster to start, every topic lost when the broker stops). See README "Embedded broker".
    embedded_broker_storage: Literal["s3", "memory"] = "s3"
    # The S3 server's port; 0 picks a free one at the first start and keeps it.
    embedded_s3_port: int = Field(default=0, ge=0, le=65535)

    # Warehouse: empty means chDB on disk under data_dir; otherwise
    # "chdb:///abs/path" or "http(s)://user:password@host:8123".
    warehouse_url: SecretStr | None = None
    warehouse_database: str = "bloodtrace"
    # A ClickHouse cluster name (remote_servers, with Keeper): migrations then create
    # Replicated*MergeTree tables ON CLUSTER behind Distributed ones (infra/cluster_ddl.py),
    # and dbt builds distributed materialisations. Empty: plain MergeTree.
    warehouse_cluster: str | None = None

    # HTTP API co-hosted in the worker.
    api_host: str = "127.0.0.1"
    api_port: int = 8787
    api_url: str | None = None  # how clients reach it; default http://api_host:api_port

    # HMAC key for donor and recipient pseudonyms.
    pseudonym_key: SecretStr | None = None

    # Streams.
    app_id: str = "bloodtrace"
    topic_prefix: str = "bloodtrace"
    topic_partitions: int = 4
    # A Kafka cluster: 3 and 2 (infra/deploy/). Tansu (one broker) takes 1 and 1.
    topic_replication_factor: int = 1
    topic_min_insync_replicas: int = 1
    sink_batch_size: int = 5000
    sink_batch_seconds: float = 0.2
    # Tansu makes a group join wait half the rebalance timeout: keep these short.
    broker_rebalance_timeout: float = 6.0
    broker_session_timeout: float = 6.0
    broker_heartbeat_interval: float = 1.0

    ingest: IngestRules = Field(default_factory=IngestRules)
    storage: StorageRules = Field(default_factory=StorageRules)
    donor: DonorRules = Field(default_factory=DonorRules)
    screening: ScreeningRules = Field(default_factory=ScreeningRules)
    honours: HonourRules = Field(default_factory=HonourRules)
    inventory: InventoryRules = Field(default_factory=InventoryRules)
    coldchain: ColdChainRules = Field(default_factory=ColdChainRules)
    lifecycle: LifecycleRules = Field(default_factory=LifecycleRules)
    quality: QualityRules = Field(default_factory=QualityRules)
    dbt: DbtRules = Field(default_factory=DbtRules)

    @model_validator(mode="after")
    def _cluster_needs_a_server(self) -> Settings:
        if self.warehouse_cluster and self.embedded_warehouse:
            raise ValueError(
                "BLOODTRACE_WAREHOUSE_CLUSTER needs a ClickHouse server URL "
                "(BLOODTRACE_WAREHOUSE_URL=http(s)://...), not the embedded chDB warehouse"
            )
        return self

    # ---- derived values -------------------------------------------------------------------
    @property
    def data_path(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def embedded_broker(self) -> bool:
        return not self.broker_url

    @property
    def bootstrap_servers(self) -> str:
        if self.broker_url:
            return ",".join(
                part.strip().removeprefix("kafka://") for part in self.broker_url.split(",")
            )
        return f"127.0.0.1:{self.embedded_broker_port}"

    @property
    def warehouse_dsn(self) -> str:
        if self.warehouse_url is not None and self.warehouse_url.get_secret_value():
            return self.warehouse_url.get_secret_value()
        return f"chdb://{self.data_path / 'warehouse'}"

    @property
    def embedded_warehouse(self) -> bool:
        return self.warehouse_dsn.startswith("chdb://")

    @property
    def api_base_url(self) -> str:
        return self.api_url or f"http://{self.api_host}:{self.api_port}"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}.{name}"

    def pseudonym_secret(self) -> bytes:
        """The HMAC key: from BLOODTRACE_PSEUDONYM_KEY, else a key file under data_dir.

        In embedded mode a key file is created on first use so the demo runs with nothing set;
        against a remote warehouse a missing key is an error, because pseudonyms made with a
        throw-away key could never be matched again.
        """
        if self.pseudonym_key is not None and self.pseudonym_key.get_secret_value():
            return self.pseudonym_key.get_secret_value().encode()
        key_file = self.data_path / "secrets" / "pseudonym.key"
        if key_file.exists():
            return key_file.read_text().strip().encode()
        if not self.embedded_warehouse:
            raise ConfigError(
                "No pseudonym key is configured.",
                hint=f"Set {ENV_PREFIX}PSEUDONYM_KEY (or put it in .env); "
                "the same key must be used by every emitter.",
                tried=[f"{ENV_PREFIX}PSEUDONYM_KEY", ".env", str(key_file)],
            )
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key.encode()

    def describe(self) -> dict[str, object]:
        """What a person may see of the configuration: secrets masked."""
        dsn = self.warehouse_dsn
        if "@" in dsn:
            scheme, rest = dsn.split("://", 1)
            dsn = f"{scheme}://***@{rest.split('@', 1)[1]}"
        return {
            "data_dir": str(self.data_path),
            "broker": f"embedded Tansu ({self.embedded_broker_storage} storage)"
            if self.embedded_broker
            else "external Kafka",
            "bootstrap_servers": self.bootstrap_servers,
            "warehouse": dsn,
            "warehouse_database": self.warehouse_database,
            "warehouse_cluster": self.warehouse_cluster or "",
            "api": self.api_base_url,
        }


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic.ValidationError: name the env vars involved
        raise ConfigError(
            f"Invalid configuration: {exc}",
            hint=f"Check the {ENV_PREFIX}* environment variables and .env.",
        ) from exc
