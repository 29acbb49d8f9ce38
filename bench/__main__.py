"""`make bench`: every benchmark, each in its own process, each measured against a baseline
run side by side in the same run (these machines are noisy).

    python -m bench                 # all
    python -m bench pipeline trace  # some
    BENCH_QUICK=1 python -m bench   # smaller sizes, to check the benchmarks run

Each section runs in a child process because chDB binds one data directory per process.
Results are printed as they come and written to var/bench/results.json.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

QUICK = os.environ.get("BENCH_QUICK") == "1"

# name -> (module, keyword arguments for its run(), quick keyword arguments)
SECTIONS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "pipeline": (
        "bench.pipeline_bench",
        {"events": 200_000, "rounds": 3},
        {"events": 20_000, "rounds": 1},
    ),
    "coldchain": ("bench.coldchain_bench", {}, {"quick": True}),
    "trace": ("bench.trace_bench", {}, {"quick": True}),
    "quality": ("bench.quality_bench", {}, {"quick": True}),
    "dbt": ("bench.dbt_bench", {}, {"quick": True}),
    "supply": ("bench.supply_bench", {}, {"quick": True}),
    # The server profile: one `bloodtrace serve` worker, then two, on a ClickHouse server.
    "workers": ("bench.workers_bench", {"events": 60_000}, {"quick": True}),
    "broker": (
        "bench.broker_bench",
        {"events": 50_000, "rounds": 2},
        {"events": 5_000, "rounds": 1},
    ),
    "dashboard": ("bench.dashboard_bench", {}, {"quick": True}),
    "auth": (
        "bench.auth_bench",
        {"events": 50_000, "rounds": 3},
        {"events": 5_000, "rounds": 1},
    ),
}

_CHILD = """
import json, sys, inspect, importlib
module = importlib.import_module(sys.argv[1])
kwargs = json.loads(sys.argv[2])
accepted = inspect.signature(module.run).parameters
kwargs = {k: v for k, v in kwargs.items() if k in accepted}
result = module.run(**kwargs)
print("BENCH_RESULT " + json.dumps(result, default=str))
"""


def machine() -> dict[str, Any]:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def run_section(name: str) -> dict[str, Any]:
    module, kwargs, quick = SECTIONS[name]
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, module, json.dumps(quick if QUICK else kwargs)],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = round(time.perf_counter() - started, 1)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            return {"status": "ok", "seconds": seconds, "result": json.loads(line[13:])}
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
    return {"status": "failed", "seconds": seconds, "exit_code": proc.returncode, "log": tail}


def main(argv: list[str]) -> int:
    names = argv or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
        return 2
    report: dict[str, Any] = {"machine": machine(), "quick": QUICK, "sections": {}}
    print(f"machine: {report['machine']}", flush=True)
    for name in names:
        print(f"== {name} …", flush=True)
        report["sections"][name] = outcome = run_section(name)
        print(json.dumps(outcome, indent=2, default=str), flush=True)
    out = Path("var/bench")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"written to {out / 'results.json'}")
    return 0 if all(s["status"] == "ok" for s in report["sections"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
