"""A `bloodtrace serve` worker in a child process for the benchmarks that time the platform
as a user runs it: its own data directory and API port, on a broker the bench started."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from infra.settings import Settings

# The worker's first administrator (its status is read with it) and master signing key (what
# the benches produce straight to events.raw is signed as the platform with it, or the
# stream refuses it): access control stays on, as a user runs the platform.
BENCH_ADMIN_TOKEN = "bt_benchadm0_" + "b" * 43
BENCH_SIGNING_KEY = "bench-signing-master-key"


def platform_headers(value: bytes) -> list[tuple[str, str | bytes | None]]:
    """Kafka headers signing ``value`` as the bench workers' own producers do."""
    from sdk.signing import PLATFORM_SIGNER, headers_for, platform_key

    return headers_for(PLATFORM_SIGNER, platform_key(BENCH_SIGNING_KEY.encode()), value)


def serve_env(settings: Settings, data_dir: Path, api_port: int) -> dict[str, str]:
    """The worker's environment: only this run's BLOODTRACE_ variables (none inherited)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLOODTRACE_")}
    env.update(
        BLOODTRACE_DATA_DIR=str(data_dir),
        BLOODTRACE_BROKER_URL=settings.bootstrap_servers,
        BLOODTRACE_API_PORT=str(api_port),
        BLOODTRACE_TOPIC_PREFIX=settings.topic_prefix,
        BLOODTRACE_TOPIC_PARTITIONS=str(settings.topic_partitions),
        BLOODTRACE_APP_ID=settings.app_id,
        BLOODTRACE_PSEUDONYM_KEY="bench",
        BLOODTRACE_WAREHOUSE_DATABASE=settings.warehouse_database,
        BLOODTRACE_AUTH__BOOTSTRAP_ADMIN_TOKEN=BENCH_ADMIN_TOKEN,
        BLOODTRACE_AUTH__TOKEN=BENCH_ADMIN_TOKEN,
        BLOODTRACE_AUTH__SIGNING_KEY=BENCH_SIGNING_KEY,
    )
    if settings.warehouse_url:
        env["BLOODTRACE_WAREHOUSE_URL"] = settings.warehouse_dsn
    return env


def start_worker(
    settings: Settings, data_dir: Path, api_port: int, timeout: float = 180
) -> subprocess.Popen[bytes]:
    """Start `bloodtrace serve` and wait until its /health says ok (its log in data_dir)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "serve.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve"],
            env=serve_env(settings, data_dir, api_port),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited with {proc.returncode}; see {data_dir}")
        if status(api_port, "/health").get("status") == "ok":
            return proc
        time.sleep(0.5)
    proc.kill()
    raise TimeoutError(f"the worker was not healthy within {timeout:.0f} s; see {data_dir}")


def status(api_port: int, path: str = "/v1/status") -> dict[str, Any]:
    try:
        answer = httpx.get(
            f"http://127.0.0.1:{api_port}{path}",
            headers={"Authorization": f"Bearer {BENCH_ADMIN_TOKEN}"},
            timeout=10,
        ).json()
    except (httpx.HTTPError, ValueError):
        return {}
    return answer if isinstance(answer, dict) else {}


def handled(api_port: int) -> int:
    """Events the spine accepted or recognised as resent so far."""
    metrics = status(api_port).get("metrics") or {}
    return int(metrics.get("accepted", 0)) + int(metrics.get("duplicates", 0))


def rss_mib(pid: int) -> float:
    """Resident memory of a process (Linux /proc), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(30)
