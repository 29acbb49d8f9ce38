"""The one settings object. Every key is an env var with the ``BLOODTRACE_`` prefix.

Nested sections use ``__``: ``BLOODTRACE_DONOR__MIN_AGE_YEARS=18``. A ``.env`` file in the
working directory is read too. Secrets are ``SecretStr`` and never printed.
"""

from __future__ import annotations

import os
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
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
    SupplyRules,
)

# The configuration plumbing the SDK shares (an emitter reads the same variables); it lives
# in the SDK, which installs without the platform.
from sdk.settings import (
    ENV_PREFIX,
    Port,
    SdkSettings,
    config_error,
    parse_broker_list,
    read_key_file,
)

WAREHOUSE_SCHEMES = ("chdb://", "http://", "https://")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


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
    embedded_broker_port: Port = 19092
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
    api_port: Port = 8787
    api_url: str | None = None  # how clients reach it; default http://api_host:api_port

    # HMAC key for donor and recipient pseudonyms (or a file holding it).
    pseudonym_key: SecretStr | None = None
    pseudonym_key_file: Path | None = None

    # Streams.
    app_id: str = "bloodtrace"
    topic_prefix: str = "bloodtrace"
    topic_partitions: PositiveInt = 4
    # A Kafka cluster: 3 and 2 (infra/deploy/). Tansu (one broker) takes 1 and 1.
    topic_replication_factor: PositiveInt = 1
    topic_min_insync_replicas: PositiveInt = 1
    sink_batch_size: PositiveInt = 5000
    sink_batch_seconds: PositiveFloat = 0.2
    # Tansu makes a group join wait half the rebalance timeout: keep these short.
    broker_rebalance_timeout: PositiveFloat = 6.0
    broker_session_timeout: PositiveFloat = 6.0
    broker_heartbeat_interval: PositiveFloat = 1.0

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
    supply: SupplyRules = Field(default_factory=SupplyRules)

    def __init__(self, **values: Any) -> None:
        # Settings built in code are checked like the environment: a ConfigError naming the
        # variable, never a raw pydantic error.
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise config_error(exc) from exc

    # ---- validation -----------------------------------------------------------------------
    @field_validator("broker_url")
    @classmethod
    def _broker_list(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            parse_broker_list(value)
        return value

    @field_validator("warehouse_url")
    @classmethod
    def _warehouse_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        url = value.get_secret_value().strip() if value is not None else ""
        if url and not url.startswith(WAREHOUSE_SCHEMES):
            scheme = url.split("://", 1)[0] + "://" if "://" in url else "no scheme"
            raise ValueError(
                f"unsupported warehouse URL ({scheme}); allowed: chdb:///abs/path, "
                "http://user:password@host:8123 or https://user:password@host:8443"
            )
        if url.startswith("chdb://") and not url.removeprefix("chdb://").startswith("/"):
            raise ValueError("a chdb:// URL takes an absolute path: chdb:///abs/path")
        return value

    @field_validator("warehouse_database")
    @classmethod
    def _database_name(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError("must be a plain name: letters, digits and _ (not first a digit)")
        return value

    @field_validator("topic_prefix", "app_id")
    @classmethod
    def _topic_name(cls, value: str) -> str:
        if not _TOPIC_NAME.match(value):
            raise ValueError("must be a Kafka topic name: letters, digits, '.', '_' and '-'")
        return value

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

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
            return ",".join(parse_broker_list(self.broker_url))
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
        if self.pseudonym_key_file is not None:
            return read_key_file(self.pseudonym_key_file, f"{ENV_PREFIX}PSEUDONYM_KEY_FILE")
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

    def sdk_settings(self, source: str = "sdk") -> SdkSettings:
        """The settings of a producer this platform runs (HTTP ingest, emit, simulate, demo):
        its broker, topics, edge checks and key (made here, in embedded mode, if none yet)."""
        return SdkSettings(
            broker_url=self.bootstrap_servers,
            pseudonym_key=SecretStr(self.pseudonym_secret().decode()),
            data_dir=self.data_dir,
            source=source,
            topic_prefix=self.topic_prefix,
            ingest=self.ingest,
        )

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
    """The settings from the environment and .env, validated (ConfigError when wrong)."""
    try:
        return Settings()
    except ConfigError:
        raise
    except Exception as exc:  # e.g. a list or dict setting that is not valid JSON
        raise ConfigError(
            f"Invalid configuration: {str(exc).splitlines()[0][:300]}",
            hint=f"Check the {ENV_PREFIX}* environment variables and .env.",
        ) from exc
