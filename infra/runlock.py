"""One platform per data directory: <data_dir>/run/platform.lock.

`bloodtrace serve` (and `migrate` or `dbt` when they open the embedded warehouse themselves)
hold an fcntl lock on this file for their whole life, with their pid, command and API address
written in it. The kernel drops the lock when the process dies however it dies, so a file left
by a crashed run is recognised as stale: whoever can lock it may go ahead. A second process
is refused with one sentence naming the holder, before it touches anything.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infra.errors import DataDirInUse
from infra.settings import Settings


def lock_path(settings: Settings) -> Path:
    return settings.data_path / "run" / "platform.lock"


@dataclass
class RunLock:
    path: Path
    fd: int

    def release(self) -> None:
        """Remove the file, then drop the lock (in that order, so nobody locks a dead file)."""
        if self.fd < 0:
            return
        with contextlib.suppress(FileNotFoundError):
            if os.stat(self.path).st_ino == os.fstat(self.fd).st_ino:
                self.path.unlink()
        os.close(self.fd)
        self.fd = -1


def acquire(settings: Settings, command: str) -> RunLock:
    """Lock the data directory for this process, or raise DataDirInUse naming the holder."""
    path = lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise DataDirInUse(refusal(settings, holder)) from None
        try:
            same_file = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same_file = False
        if not same_file:  # its holder released and removed it while we opened it: again
            os.close(fd)
            continue
        record = {
            "pid": os.getpid(),
            "command": command,
            "api": settings.api_base_url,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        return RunLock(path, fd)


@contextlib.contextmanager
def holding(settings: Settings, command: str) -> Iterator[RunLock]:
    lock = acquire(settings, command)
    try:
        yield lock
    finally:
        lock.release()


def holder(settings: Settings) -> dict[str, Any] | None:
    """Who holds the data directory now, or None (no file, or a crashed run's stale one)."""
    try:
        fd = os.open(lock_path(settings), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(fd)
        return None
    finally:
        os.close(fd)


def refusal(settings: Settings, record: dict[str, Any]) -> str:
    pid = record.get("pid", "unknown")
    api = record.get("api", "unknown")
    command = record.get("command", "serve")
    if command == "serve":
        who, detail = "A Bloodtrace platform", f"pid {pid}, API {api}"
    else:
        who, detail = f"`bloodtrace {command}`", f"pid {pid}"
    return (
        f"{who} is already running on the data directory {settings.data_path} "
        f"({detail}), so this command stops here and leaves it untouched."
    )


def _read(fd: int) -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
        if isinstance(data, dict):
            return data
    return {}
