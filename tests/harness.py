"""Test harness: a real Tansu broker and a real platform (in a thread or a child process).

No mocks: the broker is the embedded Tansu binary, the warehouse is chDB in a temp dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import Request  # at module level: FastAPI resolves the override's annotation here

from infra.broker import EmbeddedBroker, start_embedded_broker
from infra.objectstore import kill_and_wait
from infra.settings import Settings

# The administrator every test platform starts with (auth.bootstrap_admin_token), and the
# credential test requests to 127.0.0.1 carry unless they set their own Authorization header
# (see install_default_token). Tests of access itself use `as_anonymous()` or their own tokens.
ADMIN_TOKEN = "bt_testadmin0_" + "a" * 43
_default_token: list[str | None] = [ADMIN_TOKEN]
SIGNING_KEY = "test-signing-master-key"
# Requests the API fuzz run sent, by caller (tests/integration/test_fuzz_api.py): conftest
# prints them in the session's closing summary.
FUZZ_REQUESTS: Counter[str] = Counter()


def platform_signed(value: bytes) -> list[tuple[str, str | bytes | None]]:
    """Kafka headers signing a raw message as the test platform's own producers do."""
    from sdk.signing import PLATFORM_SIGNER, headers_for, platform_key

    return headers_for(PLATFORM_SIGNER, platform_key(SIGNING_KEY.encode()), value)


def install_default_token() -> None:
    """Make every httpx request to 127.0.0.1 without an Authorization header carry the current
    default token (the test administrator's): existing tests keep their requests as they are."""
    if getattr(httpx.Client.build_request, "_bloodtrace_token", False):
        return
    original = httpx.Client.build_request

    def build_request(self: httpx.Client, *args: Any, **kwargs: Any) -> httpx.Request:
        request = original(self, *args, **kwargs)
        token = _default_token[0]
        if token and "authorization" not in request.headers and request.url.host == "127.0.0.1":
            request.headers["Authorization"] = f"Bearer {token}"
        return request

    build_request._bloodtrace_token = True  # type: ignore[attr-defined]
    httpx.Client.build_request = build_request  # type: ignore[method-assign]


@contextmanager
def as_anonymous() -> Iterator[None]:
    """Requests without the default token inside this block."""
    saved = _default_token[0]
    _default_token[0] = None
    try:
        yield
    finally:
        _default_token[0] = saved


def without_platform_auth(api: Any) -> Any:
    """An API app built without a platform (a route tested on its own settings): every caller
    is the local administrator, as with ``BLOODTRACE_AUTH__ENABLED=false``."""
    from api.auth import authorize
    from infra.auth import LOCAL

    async def local(request: Request) -> None:
        request.state.principal = LOCAL

    api.dependency_overrides[authorize] = local
    return api


def role_tokens(url: str, label: str) -> dict[str, str | None]:
    """A token for every role, by name: ``anonymous`` none, the administrator's, and one new
    credential (``<label> <role>``) each for an emitter (of BS01), a viewer and a quality
    officer, made through the platform's API at ``url``."""
    found: dict[str, str | None] = {"anonymous": None, "administrator": ADMIN_TOKEN}
    for role in ("emitter", "viewer", "quality_officer"):
        body: dict[str, Any] = {"kind": "person", "name": f"{label} {role}", "role": role}
        if role == "emitter":
            body |= {"kind": "facility", "facility_id": "BS01"}
        answer = httpx.post(f"{url}/v1/admin/credentials", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        found[role] = answer.json()["token"]
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def tansu(tmp: Path, port: int | None = None) -> Iterator[str]:
    """A Tansu broker (in memory) on a free port or the given one; yields its address."""
    settings = Settings(
        data_dir=tmp, embedded_broker_port=port or free_port(), embedded_broker_storage="memory"
    )
    broker: EmbeddedBroker = start_embedded_broker(settings)
    try:
        yield settings.bootstrap_servers
    finally:
        broker.stop()


@dataclass
class DurableBroker:
    """Tansu on S3 storage (a weed server) under a tmp dir, both on free ports; can be
    SIGKILLed and restarted on the same storage, as a crash of the embedded broker would be."""

    settings: Settings
    broker: EmbeddedBroker

    @property
    def bootstrap(self) -> str:
        return self.settings.bootstrap_servers

    def pids(self) -> list[int]:
        store = self.broker.store
        return [self.broker.pid] + ([store.pid] if store is not None else [])

    def kill(self, tansu: bool = True, storage: bool = True) -> None:
        """SIGKILL Tansu and/or its S3 server, and wait until they are gone."""
        store = self.broker.store
        if tansu:
            kill_and_wait(self.broker.pid)
        if storage and store is not None:
            kill_and_wait(store.pid)

    def restart(self) -> None:
        """Start whatever is not running (on the same storage and ports); adopt the rest."""
        self.broker = start_embedded_broker(self.settings, timeout=30)

    def stop(self) -> None:
        self.broker.stop()


@contextmanager
def durable_broker(tmp: Path) -> Iterator[DurableBroker]:
    settings = Settings(
        data_dir=tmp, embedded_broker_port=free_port(), embedded_broker_storage="s3"
    )
    handle = DurableBroker(settings, start_embedded_broker(settings, timeout=30))
    try:
        yield handle
    finally:
        handle.stop()


def kill_embedded_broker(settings: Settings) -> list[int]:
    """SIGKILL the Tansu and weed a platform started for itself (found by their pid files
    under <data_dir>/broker), as a crash would; returns their pids. The next platform start
    on this data directory starts them again on the same storage."""
    pids = []
    for name in ("tansu.json", "objectstore.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            pids.append(int(json.loads((settings.data_path / "broker" / name).read_text())["pid"]))
    for pid in pids:
        kill_and_wait(pid)
    return pids


def embedded_settings(tmp: Path, storage: str = "memory", **overrides: Any) -> Settings:
    """Settings for a platform that starts its own embedded broker (on free ports)."""
    return platform_settings(
        tmp,
        None,
        embedded_broker_port=free_port(),
        embedded_broker_storage=storage,
        **overrides,
    )


def platform_settings(tmp: Path, bootstrap: str | None, **overrides: Any) -> Settings:
    """Settings for one isolated platform: own topics, group, data dir and API port."""
    tag = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "data_dir": tmp,
        "broker_url": bootstrap,
        "api_port": free_port(),
        "topic_prefix": f"t{tag}",
        "app_id": f"bloodtrace-{tag}",
        "pseudonym_key": "test-key",
        "sink_batch_seconds": 0.1,
        "auth": {
            "bootstrap_admin_token": ADMIN_TOKEN,
            "token": ADMIN_TOKEN,
            "signing_key": SIGNING_KEY,
        },
    }
    values.update(overrides)
    return Settings(**values)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process use these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLOODTRACE_")}
    env.update(
        BLOODTRACE_DATA_DIR=str(settings.data_dir),
        BLOODTRACE_BROKER_URL=settings.broker_url or "",
        BLOODTRACE_API_PORT=str(settings.api_port),
        BLOODTRACE_TOPIC_PREFIX=settings.topic_prefix,
        BLOODTRACE_APP_ID=settings.app_id,
        BLOODTRACE_PSEUDONYM_KEY="test-key",
        BLOODTRACE_SINK_BATCH_SECONDS=str(settings.sink_batch_seconds),
        BLOODTRACE_SINK_BATCH_SIZE=str(settings.sink_batch_size),
        BLOODTRACE_WAREHOUSE_DATABASE=settings.warehouse_database,
        BLOODTRACE_TOPIC_PARTITIONS=str(settings.topic_partitions),
        BLOODTRACE_EMBEDDED_BROKER_PORT=str(settings.embedded_broker_port),
        BLOODTRACE_EMBEDDED_BROKER_STORAGE=settings.embedded_broker_storage,
        BLOODTRACE_EMBEDDED_S3_PORT=str(settings.embedded_s3_port),
        BLOODTRACE_AUTH__BOOTSTRAP_ADMIN_TOKEN=ADMIN_TOKEN,
        BLOODTRACE_AUTH__TOKEN=ADMIN_TOKEN,
        BLOODTRACE_AUTH__SIGNING_KEY=SIGNING_KEY,
    )
    if settings.warehouse_url is not None:
        env["BLOODTRACE_WAREHOUSE_URL"] = settings.warehouse_url.get_secret_value()
    return env


def wait_until(
    predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.2, what: str = ""
) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # the thing waited for may not be up yet
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what or predicate}: {last!r}")


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class ThreadPlatform:
    """The platform in a thread of the test process, which can then query chDB itself."""

    settings: Settings
    platform: Any
    server: Any
    thread: threading.Thread

    @property
    def url(self) -> str:
        return self.settings.api_base_url

    def status(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/v1/status", timeout=30).json()  # type: ignore[no-any-return]

    def wait_accepted(self, count: int, timeout: float = 60) -> None:
        wait_until(
            lambda: self.platform.ctx.metrics.snapshot()["accepted"] >= count,
            timeout,
            what=f"{count} accepted events",
        )

    def wait_idle(self, timeout: float = 60) -> None:
        """Until every consumed partition has no lag for two looks in a row."""

        def idle() -> bool:
            self.platform.ctx.update_lag()
            lag = self.platform.ctx.metrics.snapshot()["consumer_lag"]
            return bool(lag) and not any(lag.values())

        wait_until(lambda: idle() and (time.sleep(0.5) or idle()), timeout, what="zero lag")


@contextmanager
def thread_platform(settings: Settings) -> Iterator[ThreadPlatform]:
    import uvicorn

    from api.app import create_api
    from api.server import lifespan
    from streams.platform import Platform

    platform = Platform(settings)
    platform.prepare()
    api = create_api(lifespan=lifespan(platform))
    server = uvicorn.Server(
        uvicorn.Config(
            api, host="127.0.0.1", port=settings.api_port, log_level="warning", lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, name="platform", daemon=True)
    thread.start()
    handle = ThreadPlatform(settings, platform, server, thread)
    try:
        wait_until(lambda: _healthy(handle.url), 60, what="platform health")
        yield handle
    finally:
        server.should_exit = True
        thread.join(60)
        platform.shutdown()


@dataclass
class ProcessPlatform:
    """`bloodtrace serve` as a child process, for crash tests."""

    settings: Settings
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return self.settings.api_base_url

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()

    def status(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/v1/status", timeout=30).json()  # type: ignore[no-any-return]


def start_process_platform(
    settings: Settings,
    log_name: str = "platform.log",
    extra_env: dict[str, str] | None = None,
) -> ProcessPlatform:
    """`extra_env` carries settings settings_env does not (e.g. BLOODTRACE_QUALITY__...)."""
    log_path = Path(settings.data_dir) / log_name
    handle = log_path.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve"],
        env=settings_env(settings) | (extra_env or {}),
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    platform = ProcessPlatform(settings, proc, log_path)
    try:
        wait_until(
            lambda: proc.poll() is not None or _healthy(platform.url), 90, what="platform health"
        )
    except TimeoutError:
        platform.kill()
        raise
    if proc.poll() is not None:
        raise RuntimeError(f"platform exited with {proc.returncode}:\n{log_path.read_text()}")
    return platform


def query_in_child(settings: Settings, sql: str) -> list[Any]:
    """First row of a query run by a separate process on this settings' warehouse."""
    script = (
        "import json, sys\n"
        "from infra.settings import Settings\n"
        "from infra.warehouse import connect\n"
        "row = connect(Settings()).query(sys.argv[1]).result_rows[0]\n"
        "print(json.dumps([int(v) if isinstance(v, int) else str(v) for v in row]))\n"
    )
    env = settings_env(settings)
    out = subprocess.run(
        [sys.executable, "-c", script, sql], env=env, capture_output=True, check=True, timeout=120
    )
    return json.loads(out.stdout.decode().strip().splitlines()[-1])  # type: ignore[no-any-return]
