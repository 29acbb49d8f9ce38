"""The one settings object. Every key is an env var with the ``BLOODTRACE_`` prefix.

Nested sections use ``__``: ``BLOODTRACE_DONOR__MIN_AGE_YEARS=18``. A ``.env`` file in the
working directory is read too. Secrets are ``SecretStr`` and never printed.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    field_validator,
    model_validator,
)

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
    EnvSettings,
    Port,
    SdkSettings,
    parse_broker_list,
    read_key_file,
)
from sdk.transport import KafkaSecurity

WAREHOUSE_SCHEMES = ("chdb://", "http://", "https://")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


class AuthSettings(BaseModel):
    """Who may do what (infra/auth.py, api/auth.py). On by default; tests run with it on."""

    # False serves every endpoint to anyone who reaches the port, as an administrator: for
    # local development only (BLOODTRACE_AUTH__ENABLED=false); the platform logs a warning.
    enabled: bool = True
    # How old the credentials read from the warehouse may be: a revocation takes effect on
    # every worker within this many seconds.
    cache_seconds: PositiveFloat = 5.0
    # /health and /metrics answer clients on the local interface (127.0.0.1, ::1) without a
    # credential; from elsewhere they need an administrator.
    ops_open_locally: bool = True
    # The CLI's credential when it calls the platform: the token, or a file holding it.
    token: SecretStr | None = None
    token_file: Path | None = None
    # Creates this administrator at start if no credential with its id exists (a deployment's
    # first administrator; the demo and the tests use it). A bt_<id>_<secret> token.
    bootstrap_admin_token: SecretStr | None = None
    # Dashboard sign-in: this many wrong tokens from one address within lockout_seconds lock
    # that address out until the oldest failure is that old.
    # Requests per second each credential (a facility's system or a person) may make, with
    # bursts up to rate_burst; over it: 429 with Retry-After (per worker).
    rate_per_second: PositiveFloat = 50.0
    rate_burst: PositiveInt = 200
    lockout_failures: PositiveInt = 5
    lockout_seconds: PositiveFloat = 900.0
    # The master key facilities' Kafka signing keys derive from (sdk/signing.py): platform
    # processes only, never emitters. In embedded mode generated under data_dir if unset.
    signing_key: SecretStr | None = None
    signing_key_file: Path | None = None

    def cli_token(self) -> str | None:
        if self.token is not None and self.token.get_secret_value().strip():
            return self.token.get_secret_value().strip()
        if self.token_file is not None:
            try:
                return self.token_file.expanduser().read_text().strip() or None
            except OSError as exc:
                raise ConfigError(
                    f"Cannot read the token file {self.token_file}: {exc.strerror or exc}.",
                    hint="Point BLOODTRACE_AUTH__TOKEN_FILE at the file holding your token.",
                    tried=[str(self.token_file)],
                ) from exc
        return None


class Settings(EnvSettings):
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
    auth: AuthSettings = Field(default_factory=AuthSettings)
    # A facility's Kafka signing credential (as the SDK's: BLOODTRACE_SIGNER, _SIGNING_KEY or
    # _SIGNING_KEY_FILE): `bloodtrace emit` and `simulate` then sign as that facility, and the
    # stream refuses rows of any other. Unset: they sign as the platform (its operators).
    signer: str | None = None
    signing_key: SecretStr | None = None
    signing_key_file: Path | None = None
    # Kafka SASL/SCRAM and TLS (sdk/transport.py): BLOODTRACE_KAFKA__SECURITY_PROTOCOL=...
    kafka: KafkaSecurity = Field(default_factory=KafkaSecurity)
    # ClickHouse over https://: the CA of its certificate (default: the system's), and the
    # password from a file instead of the URL (never logged).
    warehouse_ca_file: Path | None = None
    warehouse_password_file: Path | None = None
    supply: SupplyRules = Field(default_factory=SupplyRules)

    def __init__(self, **values: Any) -> None:
        # Typed loosely on purpose: values come as the environment gives them (str for a
        # SecretStr, dicts for sections); EnvSettings checks them and names a wrong variable.
        super().__init__(**values)

    # ---- validation (the variables' plumbing and broker_url: sdk.settings.EnvSettings) ---------
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

    @property
    def admin_token_file(self) -> Path:
        """Where `bloodtrace demo` keeps the first administrator's token (mode 0600)."""
        return self.data_path / "secrets" / "admin.token"

    def cli_token(self) -> str | None:
        """The CLI's credential: BLOODTRACE_AUTH__TOKEN, else _TOKEN_FILE, else the demo's
        first administrator's token file under data_dir, if there is one."""
        found = self.auth.cli_token()
        if found is None and self.admin_token_file.is_file():
            found = self.admin_token_file.read_text().strip() or None
        return found

    def signing_master(self) -> bytes:
        """The master signing key: auth.signing_key, its file, else (embedded mode) a key file
        under data_dir made on first use; a remote warehouse without one is an error."""
        auth = self.auth
        if auth.signing_key is not None and auth.signing_key.get_secret_value().strip():
            return auth.signing_key.get_secret_value().strip().encode()
        if auth.signing_key_file is not None:
            return read_key_file(auth.signing_key_file, f"{ENV_PREFIX}AUTH__SIGNING_KEY_FILE")
        key_file = self.data_path / "secrets" / "signing.key"
        if key_file.exists():
            return key_file.read_text().strip().encode()
        if not self.embedded_warehouse:
            raise ConfigError(
                "No signing master key is configured.",
                hint=f"Set {ENV_PREFIX}AUTH__SIGNING_KEY or _SIGNING_KEY_FILE, the same on "
                "every platform process.",
                tried=[f"{ENV_PREFIX}AUTH__SIGNING_KEY", str(key_file)],
            )
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        with contextlib.suppress(FileExistsError):
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(key)
        return key_file.read_text().strip().encode()

    def sdk_settings(self, source: str = "sdk") -> SdkSettings:
        """The settings of a producer this platform runs (HTTP ingest, emit, simulate, demo):
        its broker, topics, edge checks and key (made here, in embedded mode, if none yet)."""
        from sdk.signing import PLATFORM_SIGNER, platform_key

        signing: dict[str, Any] = {}
        if self.signer:  # a facility's own credential: sign like its SDK
            signing = {
                "signer": self.signer,
                "signing_key": self.signing_key,
                "signing_key_file": self.signing_key_file,
            }
        elif self.auth.enabled:  # the platform's own producers sign as the platform
            key = platform_key(self.signing_master()).hex()
            signing = {"signer": PLATFORM_SIGNER, "signing_key": SecretStr(key)}
        return SdkSettings(
            **signing,
            broker_url=self.bootstrap_servers,
            pseudonym_key=SecretStr(self.pseudonym_secret().decode()),
            data_dir=self.data_dir,
            source=source,
            topic_prefix=self.topic_prefix,
            ingest=self.ingest,
            kafka=self.kafka,
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
