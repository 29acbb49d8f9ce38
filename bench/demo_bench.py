"""`bloodtrace demo` as a user runs it (its defaults, the durable embedded broker, chDB on
disk), timed whole, against the aim of 5 minutes on 2 cores.

Entry point: ``run(quick: bool = False) -> dict`` (quick: 30 days instead of the default).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._broker import free_port

AIM_SECONDS = 300.0


def run(quick: bool = False) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bloodtrace-demo-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLOODTRACE_")}
    env.update(
        BLOODTRACE_DATA_DIR=str(work),
        BLOODTRACE_API_PORT=str(free_port()),
        BLOODTRACE_EMBEDDED_BROKER_PORT=str(free_port()),
    )
    command = [sys.executable, "-m", "cli", "demo", "--exit"]
    if quick:
        command += ["--days", "30"]
    try:
        started = time.monotonic()
        with (work / "demo-output.log").open("wb") as log:
            done = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        seconds = time.monotonic() - started
        if done.returncode != 0:
            tail = (work / "demo-output.log").read_text(errors="replace")[-1500:]
            raise RuntimeError(f"demo exited with {done.returncode}: {tail}")
        print(f"demo: {seconds:.0f} s (aim {AIM_SECONDS:.0f} s)", flush=True)
        return {
            "command": " ".join(["bloodtrace", *command[3:]]),
            "seconds": round(seconds, 1),
            "aim_seconds": AIM_SECONDS,
            "ratio_to_aim": round(seconds / AIM_SECONDS, 2),
            "cpus": os.cpu_count(),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
