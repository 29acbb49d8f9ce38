"""The SDK's own settings: what an emitter needs, and nothing of the platform's.

An emitter may run on another machine than the platform, so it never makes up a pseudonym key:
pseudonyms made with a key of its own would never match the platform's, silently. The key comes
from ``BLOODTRACE_PSEUDONYM_KEY`` (environment or ``.env``) or the file named by
``BLOODTRACE_PSEUDONYM_KEY_FILE``; only an emitter that talks to the embedded broker of a
platform on the same machine (no ``BLOODTRACE_BROKER_URL``) may also read that platform's key
file, ``<BLOODTRACE_DATA_DIR>/secrets/pseudonym.key``. Without one the SDK refuses to start and
says which keys it tried. The platform builds these settings from its own for the producers it
runs (HTTP ingest, ``bloodtrace emit``, ``simulate``, ``demo``): see
``infra.settings.Settings.sdk_settings``.

Same ``BLOODTRACE_`` variables as the platform, so one environment serves both.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Protocol

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.errors import ConfigError, InvalidSettings
from models.rules import IngestRules
from sdk.transport import KafkaSecurity

KEY_FILE_NAME = Path("secrets") / "pseudonym.key"
ENV_PREFIX = "BLOODTRACE_"
Port = Annotated[int, Field(ge=1, le=65535)]
# Settings whose value must never be repeated in an error message.
SECRET_FIELDS = {"warehouse_url", "pseudonym_key", "auth", "kafka", "signing_key"}
_HOST_PORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$")


def parse_broker_list(value: str) -> list[str]:
    """``host:port`` entries of a Kafka bootstrap list (``kafka://`` prefixes allowed)."""
    entries = [part.strip().removeprefix("kafka://") for part in value.split(",")]
    for entry in entries:
        match = _HOST_PORT.match(entry)
        if not match or not 1 <= int(match.group(1)) <= 65535:
            raise ValueError(
                f"{entry!r} is not host:port; expected a comma-separated host:port list, "
                "e.g. kafka1:9092,kafka2:9092 (an optional kafka:// prefix is allowed)"
            )
    return entries


def read_key_file(path: Path, what: str) -> bytes:
    """A pseudonym key from a file (stripped); ConfigError naming the file if unreadable or
    empty."""
    try:
        key = path.expanduser().read_text().strip()
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the pseudonym key file {path} ({what}): {exc.strerror or exc}.",
            hint="Point it at the file holding the platform's key.",
            tried=[str(path)],
        ) from exc
    if not key:
        raise ConfigError(
            f"The pseudonym key file {path} ({what}) is empty.",
            hint="Put the platform's key in it.",
            tried=[str(path)],
        )
    return key.encode()


def env_name(loc: tuple[int | str, ...]) -> str:
    """The environment variable that sets the value at a pydantic error location."""
    return ENV_PREFIX + "__".join(str(part) for part in loc if not isinstance(part, int)).upper()


def config_error(exc: ValidationError) -> InvalidSettings:
    """One ConfigError naming every refused variable, its value (unless secret) and what is
    allowed, e.g. ``BLOODTRACE_SINK_BATCH_SIZE=-5: must be greater than 0``."""
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        name = env_name(loc)
        allowed = str(error["msg"]).removeprefix("Value error, ")
        allowed = allowed.replace("Input should be", "must be")
        secret = bool(loc) and loc[0] in SECRET_FIELDS
        nested = error["type"] in ("value_error", "assertion_error") and isinstance(
            error.get("input"), dict
        )
        if secret or nested or "input" not in error:
            problems.append(f"{name}: {allowed}")
        else:
            problems.append(f"{name}={error['input']}: {allowed}")
    return InvalidSettings(
        "Invalid configuration:\n  " + "\n  ".join(problems),
        hint=f"Fix the {ENV_PREFIX}* environment variable(s) or .env; README "
        "(Configuration) lists every setting and its default.",
        variables=[env_name(tuple(e["loc"])) for e in exc.errors()],
    )


class EnvSettings(BaseSettings):
    """What the SDK's settings and the platform's share: the BLOODTRACE_ variables (nested
    with __, also from .env), a ConfigError naming the variable instead of a raw pydantic
    error (settings built in code are checked like the environment), and a well-formed
    broker list in broker_url."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise config_error(exc) from exc

    @field_validator("broker_url", check_fields=False)  # the field is each subclass's own
    @classmethod
    def _broker_list(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            parse_broker_list(value)
        return value


class SdkSettings(EnvSettings):
    # Kafka bootstrap list ("kafka1:9092,kafka2:9092"); empty: the embedded broker of a
    # platform on this machine, at 127.0.0.1:embedded_broker_port.
    broker_url: str | None = None
    embedded_broker_port: Port = 19092
    # The HMAC key for pseudonyms: the platform's own, never generated here.
    pseudonym_key: SecretStr | None = None
    pseudonym_key_file: Path | None = None
    # Only to find a local platform's key file (embedded broker only).
    data_dir: Path = Path("var")
    # What refused events say they came from (rejected_events.source).
    source: str = "sdk"
    topic_prefix: str = "bloodtrace"
    # The same edge checks as the platform's (size, clock skew).
    ingest: IngestRules = Field(default_factory=IngestRules)
    # Proof of facility (sdk/signing.py): the facility's emitter credential id and its
    # signing key (hex, from `bloodtrace facilities create`), or a file holding the key.
    # Without them events go unsigned, and a platform with auth on refuses them.
    signer: str | None = None
    # SASL/SCRAM and TLS to the brokers (BLOODTRACE_KAFKA__*, as the platform's).
    kafka: KafkaSecurity = Field(default_factory=KafkaSecurity)
    signing_key: SecretStr | None = None
    signing_key_file: Path | None = None

    def signing(self) -> tuple[str, bytes] | None:
        """(signer, key bytes), or None when not configured."""
        if not self.signer:
            return None
        if self.signing_key is not None and self.signing_key.get_secret_value().strip():
            text = self.signing_key.get_secret_value().strip()
        elif self.signing_key_file is not None:
            text = read_key_file(self.signing_key_file, f"{ENV_PREFIX}SIGNING_KEY_FILE").decode()
        else:
            raise ConfigError(
                f"{ENV_PREFIX}SIGNER is set but no signing key is.",
                hint=f"Set {ENV_PREFIX}SIGNING_KEY or {ENV_PREFIX}SIGNING_KEY_FILE to the key "
                "`bloodtrace facilities create` printed.",
            )
        try:
            return self.signer, bytes.fromhex(text)
        except ValueError as exc:
            raise ConfigError(
                f"The signing key for {self.signer!r} is not hex.",
                hint="Use the key exactly as `bloodtrace facilities create` printed it.",
            ) from exc

    def __init__(self, **values: Any) -> None:
        # Typed loosely on purpose: values come as the environment gives them (str for a
        # SecretStr, dicts for sections); EnvSettings checks them and names a wrong variable.
        super().__init__(**values)

    @classmethod
    def load(cls, **overrides: Any) -> SdkSettings:
        """From the environment and .env (ConfigError naming the variable when wrong)."""
        return cls(**overrides)

    # ---- derived values -------------------------------------------------------------------
    @property
    def local_broker(self) -> bool:
        """No broker configured: the embedded broker of a platform on this machine."""
        return not (self.broker_url and self.broker_url.strip())

    @property
    def bootstrap_servers(self) -> str:
        if self.broker_url and self.broker_url.strip():
            return ",".join(parse_broker_list(self.broker_url))
        return f"127.0.0.1:{self.embedded_broker_port}"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}.{name}"

    def pseudonym_secret(self) -> bytes:
        """The HMAC key, from the first place that has one; ConfigError naming every place
        tried when none has. Never creates a key."""
        tried = [f"{ENV_PREFIX}PSEUDONYM_KEY (environment or .env)"]
        if self.pseudonym_key is not None and self.pseudonym_key.get_secret_value().strip():
            return self.pseudonym_key.get_secret_value().strip().encode()
        if self.pseudonym_key_file is not None:
            return read_key_file(self.pseudonym_key_file, f"{ENV_PREFIX}PSEUDONYM_KEY_FILE")
        tried.append(f"{ENV_PREFIX}PSEUDONYM_KEY_FILE (not set)")
        if self.local_broker:
            platform_key = self.data_dir.expanduser().resolve() / KEY_FILE_NAME
            if platform_key.is_file():
                return read_key_file(platform_key, "the local platform's key file")
            tried.append(f"{platform_key} (the local platform's key file: none there)")
        raise ConfigError(
            "The SDK has no pseudonym key, and it never makes one up: pseudonyms made with "
            "another key than the platform's would never match. Tried: " + "; ".join(tried) + ".",
            hint=f"Set {ENV_PREFIX}PSEUDONYM_KEY to the platform's key, or "
            f"{ENV_PREFIX}PSEUDONYM_KEY_FILE to a file holding it.",
            tried=tried,
        )


class ProvidesSdkSettings(Protocol):
    """Whatever can narrow itself to an emitter's settings: the platform's ``Settings`` does
    (the SDK names no platform type, so it installs and imports without the platform)."""

    def sdk_settings(self, source: str = "sdk") -> SdkSettings: ...
