"""A real ClickHouse 26.9 HTTP server from ``chdb-core``: a test and development fixture.

``chdb-core``'s library is ClickHouse 26.9 and still holds clickhouse-local's
``SYSTEM START LISTEN``: a process that runs ::

    SYSTEM START LISTEN HTTP; SYSTEM START LISTEN TCP; SELECT sleepEachRow(1) FROM numbers(N) ...

through ``chdb._chdb.query(..., path=DIR)`` serves the real ClickHouse HTTP and native protocols
until that query ends, with the ports and listen host of a ``config.xml`` in its working
directory. It is clickhouse-local with listeners, not ``clickhouse-server``: no Keeper, no
replication, a ``default`` user without a password (so it binds to loopback only). chDB allows
one such engine per process, so every server here is a child process of its own (``python -m
infra.chserver``), which dies with its parent and is stopped with SIGKILL (MergeTree parts are
written whole and renamed into place, so a kill loses nothing acknowledged; a restart on the
same path finds the data).

The feature is undocumented: :func:`start` raises :class:`ServerStartFailed` with the child's
own words if a future chDB refuses it, instead of timing out silently.

Development: ``python -m infra.chserver --path var/chserver --http-port 8123`` then
``BLOODTRACE_WAREHOUSE_URL=http://127.0.0.1:8123 bloodtrace serve``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from infra.errors import WarehouseError, WarehouseUnavailable

LISTEN_HOST = "127.0.0.1"  # the default user has no password: never listen beyond loopback
# Seconds the serving query sleeps: the server lives until killed (about 31 years).
_SERVE_SECONDS = 1_000_000_000
# TCP first: once HTTP answers, every listener is up (HTTP first let a taken TCP port pass
# start() during the moment before the child exited).
_SERVE_QUERY = (
    "SYSTEM START LISTEN TCP; SYSTEM START LISTEN HTTP; "
    f"SELECT sleepEachRow(1) FROM numbers({_SERVE_SECONDS}) "
    "SETTINGS max_block_size = 1 FORMAT Null"
)
LOG_NAME = "chserver.log"


class ServerStartFailed(WarehouseError):
    """The server process exited before answering: this chDB refuses ``SYSTEM START LISTEN``
    (a release dropped it), or a port is taken, or the path is locked; the log says which."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LISTEN_HOST, 0))
        return int(sock.getsockname()[1])


def port_taken(port: int) -> bool:
    """Whether another process listens on ``port`` of the listen host."""
    with socket.socket() as sock:
        # SO_REUSEADDR as the server sets it: a port in TIME_WAIT after a restart is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LISTEN_HOST, port))
        except OSError:
            return True
    return False


def config_xml(http_port: int, tcp_port: int) -> str:
    return (
        "<clickhouse>\n"
        f"  <http_port>{http_port}</http_port>\n"
        f"  <tcp_port>{tcp_port}</tcp_port>\n"
        f"  <listen_host>{LISTEN_HOST}</listen_host>\n"
        "</clickhouse>\n"
    )


def _answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/?query=SELECT%201", timeout=timeout) as reply:
            return bool(reply.status == 200 and reply.read().strip() == b"1")
    except (OSError, urllib.error.URLError):
        return False


@dataclass
class ChServer:
    """A running (or stopped) server: its data path, ports and child process."""

    path: Path
    http_port: int
    tcp_port: int
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """What BLOODTRACE_WAREHOUSE_URL takes."""
        return f"http://{LISTEN_HOST}:{self.http_port}"

    @property
    def log_path(self) -> Path:
        return self.path / LOG_NAME

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def answers(self) -> bool:
        return _answers(self.url)

    def start(self, timeout: float = 60.0) -> ChServer:
        """Start the child and wait until HTTP answers ``SELECT 1``."""
        if self.running:
            return self
        self.path.mkdir(parents=True, exist_ok=True)
        if _answers(self.url, timeout=0.5):
            raise WarehouseError(
                f"Something already answers on {self.url}; not starting a second server there.",
                hint="Pick another port or stop the other server.",
            )
        for port in (self.http_port, self.tcp_port):
            if port_taken(port):
                raise ServerStartFailed(
                    f"Port {port} on {LISTEN_HOST} is already taken by another process; "
                    "the ClickHouse server cannot listen there.",
                    hint="Pick other ports (the defaults are free ports) or stop that process.",
                )
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "infra.chserver",
                    "--path",
                    str(self.path),
                    "--http-port",
                    str(self.http_port),
                    "--tcp-port",
                    str(self.tcp_port),
                    "--exit-with-parent",
                ],
                cwd=str(Path(__file__).resolve().parents[1]),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self._log_tail()
                self.proc = None
                raise ServerStartFailed(
                    "chDB could not serve ClickHouse over HTTP "
                    f"(the server process exited): {tail}",
                    hint="A taken port or a path another process owns shows in the log; "
                    "otherwise this chDB lacks clickhouse-local's SYSTEM START LISTEN (it "
                    "needs chdb-core>=26.9): run a real ClickHouse server and point "
                    "BLOODTRACE_WAREHOUSE_URL at it.",
                    log=str(self.log_path),
                )
            if self.answers():
                return self
            time.sleep(0.1)
        self.stop()
        raise WarehouseUnavailable(
            f"The chDB HTTP server on {self.url} did not answer within {timeout:.0f} s.",
            hint=f"See {self.log_path}.",
        )

    def stop(self) -> None:
        """Kill the server (it does not need a clean shutdown) and wait for it to go."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.proc = None

    def restart(self, timeout: float = 60.0) -> ChServer:
        """Stop and start again on the same path and ports; the data stays."""
        self.stop()
        return self.start(timeout)

    def _log_tail(self, chars: int = 600) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        lines = [line for line in text.strip().splitlines() if line.strip()]
        return " | ".join(lines[-5:])[-chars:] or "(empty log)"

    def __enter__(self) -> ChServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def start(
    path: Path, *, http_port: int | None = None, tcp_port: int | None = None, timeout: float = 60
) -> ChServer:
    """A server on ``path`` (created if missing), on the given or free ports, answering."""
    server = ChServer(Path(path).resolve(), http_port or free_port(), tcp_port or free_port())
    return server.start(timeout)


# ---- the child -------------------------------------------------------------------------------
def _exit_with_parent() -> None:
    """Die when the parent does, so a crashed test run leaves no server behind.

    chDB releases the GIL while its query runs, so a thread can watch the parent.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def serve(path: Path, http_port: int, tcp_port: int) -> int:
    """Run the server in this process until killed (blocks). Returns an exit code."""
    path = path.resolve()
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.xml").write_text(config_xml(http_port, tcp_port))
    os.chdir(path)  # clickhouse-local reads config.xml from the working directory
    try:
        from chdb import _chdb
    except ImportError as exc:
        print(f"chdb-core is not installed: {exc}", file=sys.stderr, flush=True)
        return 3
    print(
        f"ClickHouse (chDB) serving http://{LISTEN_HOST}:{http_port} "
        f"tcp {LISTEN_HOST}:{tcp_port} data {path}",
        flush=True,
    )
    try:
        # "TabSeparated": with CSV the server's default HTTP format would become CSV too.
        _chdb.query(_SERVE_QUERY, "TabSeparated", path=str(path))  # type: ignore[attr-defined]
    except Exception as exc:
        print(f"chDB refused to serve: {exc}", file=sys.stderr, flush=True)
        return 3
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.chserver",
        description="Serve a chDB data directory as a ClickHouse 26.9 HTTP/TCP server "
        "on 127.0.0.1 (development and tests only: no password, no replication).",
    )
    parser.add_argument("--path", type=Path, required=True, help="data directory")
    parser.add_argument("--http-port", "--port", type=int, default=8123)
    parser.add_argument("--tcp-port", type=int, default=None, help="default: a free port")
    parser.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.exit_with_parent:
        _exit_with_parent()
    return serve(args.path, args.http_port, args.tcp_port or free_port())


if __name__ == "__main__":
    sys.exit(main())
