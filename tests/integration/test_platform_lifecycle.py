"""One platform per data directory, and a clean stop on SIGTERM as on SIGINT."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from harness import embedded_settings, settings_env, start_process_platform

from infra.objectstore import pid_alive

pytestmark = [pytest.mark.integration, pytest.mark.any_profile]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_second_serve_is_refused_and_the_first_stays_healthy(tmp_path: Path) -> None:
    first = start_process_platform(embedded_settings(tmp_path))
    codes: list[int] = []
    done = threading.Event()

    def poll() -> None:  # /health of the first, all through the second's attempt and after
        while not done.is_set():
            codes.append(httpx.get(f"{first.url}/health", timeout=5).status_code)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        env = settings_env(first.settings)
        runs = [
            subprocess.run(
                [sys.executable, "-m", "cli", *cmd],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            for cmd in (["serve"], ["migrate"])
        ]
        done.wait(3)  # keep polling a while after the refusals
    finally:
        done.set()
        poller.join()
        first.stop()
    for run in runs:
        message = " ".join(run.stderr.split())
        assert run.returncode != 0, run.stdout + run.stderr
        assert "already running" in message and f"pid {first.proc.pid}" in message, message
        assert "Traceback" not in run.stderr + run.stdout
    assert len(codes) > 10 and set(codes) == {200}, codes


def _broker_pids(data: Path) -> list[int]:
    """Pids of the embedded broker's processes, from their pid files (old or new layout)."""
    pids = [int(p.read_text()) for p in (data / "run").glob("*.pid")]
    return pids + [json.loads(p.read_text())["pid"] for p in (data / "broker").glob("*.json")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_broker_and_removes_pid_and_lock_files(tmp_path: Path, sig: int) -> None:
    settings = embedded_settings(tmp_path, storage="s3")
    platform = start_process_platform(settings)
    pids = _broker_pids(tmp_path)
    platform.proc.send_signal(sig)
    assert platform.proc.wait(90) == 0
    assert not _listening(settings.embedded_broker_port)
    assert pids and not [p for p in pids if pid_alive(p)]
    leftovers = [*(tmp_path / "run").glob("*.pid"), *(tmp_path / "run").glob("*.lock")]
    assert not leftovers + list((tmp_path / "broker").glob("*.json"))
