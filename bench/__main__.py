"""`make bench`: every benchmark, each in its own process, each measured against a baseline
run side by side in the same run (these machines are noisy).

    python -m bench                 # all
    python -m bench pipeline trace  # some
    BENCH_QUICK=1 python -m bench   # smaller sizes, to check the benchmarks run
    python -m bench --markdown [results.json]  # the last results as the README's table

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
        {"events": 100_000, "rounds": 3},
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
        {"events": 6_000, "rounds": 5},
        {"events": 2_000, "rounds": 1},
    ),
    "import": ("bench.import_bench", {"events": 100_000}, {"quick": True}),
    "demo": ("bench.demo_bench", {}, {"quick": True}),
    # Faust table state per unit (extrapolated to 10 M units) and its replay after a restart.
    "state": ("bench.state_bench", {"events": 45_000}, {"quick": True}),
    # 10 minutes by default; BENCH_SOAK_SECONDS=7200 for the aim's 2 hours.
    "soak": ("bench.soak_bench", {"seconds": 600}, {"quick": True}),
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


def aims(sections: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 13's aims, each as a figure against its baseline from the same run (where the
    section ran and reports it)."""
    out: list[dict[str, Any]] = []

    def result(name: str) -> dict[str, Any]:
        section = sections.get(name) or {}
        return section.get("result") or {} if section.get("status") == "ok" else {}

    pipe = result("pipeline")
    if pipe:
        for label, rate, ratio in (
            ("whole worker (processors done) vs bare Faust loop", "whole_worker", "whole_worker"),
            ("spine done vs bare Faust loop", "pipeline", ""),
        ):
            figure = pipe.get(f"median_{rate}_events_per_s")
            factor = pipe.get(f"median_{ratio}_ratio" if ratio else "median_ratio")
            if figure is None or factor is None:
                continue
            out.append(
                {
                    "section": "pipeline",
                    "aim": label,
                    "figure": f"{figure:,.0f} ev/s",
                    "baseline": f"{pipe['median_bare_events_per_s']:,.0f} ev/s",
                    "ratio": factor,
                    "target": ">= 0.8x and >= 5,000 ev/s",
                    "met": factor >= 0.8 and figure >= 5000,
                }
            )
    if pipe.get("median_cpu_ratio") is not None:
        out.append(
            {
                "section": "pipeline",
                "aim": "whole worker, CPU per event vs bare Faust loop (steady under load)",
                "figure": f"{pipe['median_whole_worker_cpu_us_per_event']:,} us/ev",
                "baseline": f"{pipe.get('median_bare_cpu_us_per_event', '?')} us/ev",
                "ratio": pipe["median_cpu_ratio"],
                "target": ">= 0.8x",
                "met": pipe["median_cpu_ratio"] >= 0.8,
            }
        )
    access = result("auth")  # issue 15: access control on vs off, same run
    for channel, label in (("http", "POST /v1/events"), ("sdk", "SDK to Kafka")):
        for unit, kind, what in (
            ("events_per_s", "ratio", "ev/s"),
            ("events_per_cpu_s", "cpu_ratio", "ev per CPU s"),
        ):
            factor = access.get(f"median_{channel}_{kind}")
            if factor is None:
                continue
            out.append(
                {
                    "section": "auth",
                    "aim": f"accepted {what} via {label}, auth and signatures on vs off",
                    "figure": f"{access[f'median_{channel}_on_{unit}']:,.0f} {what}",
                    "baseline": f"{access[f'median_{channel}_off_{unit}']:,.0f} {what}",
                    "ratio": factor,
                    "target": ">= 0.9x",
                    "met": factor >= 0.9,
                }
            )
    dbt = result("dbt")
    for key, label, limit in (
        ("full_build_seconds", "dbt full build", 60.0),
        ("incremental_run_seconds", "dbt next-day incremental", 5.0),
    ):
        if key in dbt:
            out.append(
                {
                    "section": "dbt",
                    "aim": label,
                    "figure": f"{dbt[key]} s",
                    "baseline": f"{dbt.get('events_loaded', '?')} events",
                    "ratio": None,
                    "target": f"<= {limit:g} s",
                    "met": float(dbt[key]) <= limit,
                }
            )
    out.extend(_latency_aims(result("trace")))
    out.extend(_broker_and_state_aims(result("broker"), result("state")))
    out.extend(_import_demo_soak_aims(result("import"), result("demo"), result("soak")))
    return out


def _latency_aims(trace: dict[str, Any]) -> list[dict[str, Any]]:
    """Trace and lookback p99 (warm) against a full scan of the same data in the same run."""
    latency = trace.get("latency") or {}
    rows: list[dict[str, Any]] = []
    for key, label, limit in (
        ("trace", "trace by DIN p99", 50.0),
        ("recipient_trace", "trace by recipient p99", 50.0),
        ("donor_trace", "trace by donor p99", 50.0),
        ("lookback", "lookback p99", 100.0),
    ):
        fast, scan = latency.get(key), latency.get(f"{key}_full_scan")
        if not fast or not scan:
            continue
        rows.append(
            {
                "section": "trace",
                "aim": f"{label} over {trace.get('units', 0):,} units",
                "figure": f"{fast['p99_ms']} ms",
                "baseline": f"full scan p99 {scan['p99_ms']} ms",
                "ratio": round(fast["p99_ms"] / scan["p99_ms"], 3) if scan["p99_ms"] else None,
                "target": f"<= {limit:g} ms",
                "met": fast["p99_ms"] <= limit,
            }
        )
    if "first_trace_ms" in latency and latency.get("trace"):
        warm = latency["trace"]["p50_ms"]
        rows.append(
            {
                "section": "trace",
                "aim": "first trace on a new connection",
                "figure": f"{latency['first_trace_ms']} ms",
                "baseline": f"warm trace p50 {warm} ms",
                "ratio": round(latency["first_trace_ms"] / warm, 2) if warm else None,
                "target": "<= 200 ms",
                "met": latency["first_trace_ms"] <= 200,
            }
        )
    return rows


def _broker_and_state_aims(broker: dict[str, Any], state: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 9's durable broker against the in-memory one, and the Faust table state."""
    rows: list[dict[str, Any]] = []
    if broker.get("s3_vs_memory"):
        ratio = broker["s3_vs_memory"]["accepted_to_stored_ratio"]
        rows.append(
            {
                "section": "broker",
                "aim": f"accepted-to-stored, durable broker (S3) vs in memory, {broker['events']:,}"
                " events",
                "figure": f"{broker['s3']['accepted_to_stored_events_per_s']:,} ev/s",
                "baseline": f"in memory {broker['memory']['accepted_to_stored_events_per_s']:,}"
                " ev/s",
                "ratio": ratio,
                "target": "stated (issue 9)",
                "met": True,
            }
        )
    if state:
        rows.append(
            {
                "section": "state",
                "aim": f"Faust table state for {state['aim_units']:,} units (from {state['units']:,}"
                f" measured: {state['bytes_per_unit']} B/unit serialised)",
                "figure": f"{state['state_gib_at_aim']} GiB serialised,"
                f" {state['memory_gib_at_aim']} GiB as Python objects in the memory store",
                "baseline": "24 GiB machine memory",
                "ratio": round(state["memory_gib_at_aim"] / 24, 3),
                "target": "stated; RocksDB where memory would not hold it",
                "met": state["memory_gib_at_aim"] < 12,
            }
        )
        rows.append(
            {
                "section": "state",
                "aim": f"table replay after a restart ({state['units']:,} units)",
                "figure": f"{state['replay_seconds']} s to ready"
                + (
                    f", MISSING {state['missing_after_replay']}"
                    if state["missing_after_replay"]
                    else ""
                ),
                "baseline": f"start with empty tables {state['empty_start_seconds']} s",
                "ratio": state["replay_ratio"],
                "target": "measured; every entry back",
                "met": not state["missing_after_replay"],
            }
        )
    return rows


def _import_demo_soak_aims(
    imported: dict[str, Any], demo: dict[str, Any], soak: dict[str, Any]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if imported:
        rows.append(
            {
                "section": "import",
                "aim": f"history import (`bloodtrace emit`, {imported['events']:,} events)",
                "figure": f"{imported['import_events_per_s']:,} ev/s",
                "baseline": f"bare Faust loop {imported['bare_events_per_s']:,} ev/s",
                "ratio": imported["ratio"],
                "target": f">= {imported['aim_events_per_s']:,} ev/s",
                "met": imported["import_events_per_s"] >= imported["aim_events_per_s"],
            }
        )
    if demo:
        rows.append(
            {
                "section": "demo",
                "aim": f"`{demo['command']}` wall time",
                "figure": f"{demo['seconds']} s",
                "baseline": f"aim {demo['aim_seconds']:g} s",
                "ratio": demo["ratio_to_aim"],
                "target": f"<= {demo['aim_seconds']:g} s",
                "met": demo["seconds"] <= demo["aim_seconds"],
            }
        )
    if soak:
        short = soak["seconds"] < soak["aim_seconds"]
        rows.append(
            {
                "section": "soak",
                "aim": f"worker memory flat over a {soak['seconds']} s soak"
                + (f" (the aim is {soak['aim_seconds']} s)" if short else ""),
                "figure": f"{soak['rss_end_mib']} MiB at the end, peak {soak['rss_peak_mib']}",
                "baseline": f"{soak['rss_after_warm_up_mib']} MiB after warm-up",
                "ratio": round(1 + soak["peak_drift"], 3),
                "target": "within +/-10 %",
                "met": bool(soak["flat"]) and not short,
            }
        )
    return rows


def print_aims(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    print("== aims (issues 13 and 15), this run")
    for row in rows:
        ratio = "" if row["ratio"] is None else f"  ratio {row['ratio']}"
        verdict = "met" if row["met"] else "NOT met"
        print(
            f"  {row['aim']}: {row['figure']} (baseline {row['baseline']}){ratio}"
            f"  aim {row['target']}: {verdict}"
        )


def write_results(report: dict[str, Any], path: Path) -> Path:
    """Merge this run's sections into ``path``: a run of one section keeps the others' last
    figures (each section says when and on what machine it ran)."""
    merged: dict[str, Any] = {}
    if path.exists():
        try:
            merged = json.loads(path.read_text())
        except ValueError:  # a half-written or foreign file: start again
            merged = {}
    if not isinstance(merged.get("sections"), dict):
        merged["sections"] = {}
    for name, outcome in report["sections"].items():
        merged["sections"][name] = {
            **outcome,
            "ran_at": report["ran_at"],
            "quick": report["quick"],
            "machine": report["machine"],
        }
    merged["aims"] = aims(merged["sections"])
    merged["machine"] = report["machine"]
    merged["updated_at"] = report["ran_at"]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(merged, indent=2, default=str))
    tmp.replace(path)
    return path


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def markdown(path: Path) -> str:
    """The aims of the last run in ``path`` as the README's table: each row with the section's
    run time and the load average before and after it."""
    report = json.loads(path.read_text())
    sections = report["sections"]
    lines = [
        "| aim | figure | baseline, same run | ratio | target | met | section: ran at, load avg |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in aims(sections):  # recomputed: the rows of an older file name no section
        name = row.get("section", "")
        section = sections.get(name, {})
        load = section.get("load_average", {})
        ran = f"{name}: {section.get('ran_at', '?')}, {load.get('before', ['?'])[0]}" + (
            f" to {load['after'][0]}" if load.get("after") else ""
        )
        ratio = "" if row["ratio"] is None else row["ratio"]
        verdict = "yes" if row["met"] else "**no**"
        lines.append(
            f"| {row['aim']} | {row['figure']} | {row['baseline']} | {ratio} | {row['target']}"
            f" | {verdict} | {ran} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] in (["--help"], ["-h"]):
        print(__doc__)
        print(f"sections: {', '.join(SECTIONS)}")
        return 0
    if argv[:1] == ["--markdown"]:
        print(markdown(Path(argv[1] if len(argv) > 1 else "var/bench/results.json")))
        return 0
    names = argv or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
        return 2
    report: dict[str, Any] = {
        "machine": machine(),
        "quick": QUICK,
        "ran_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sections": {},
    }
    print(f"machine: {report['machine']}", flush=True)
    for name in names:
        print(f"== {name} …", flush=True)
        load_before = load_average()
        outcome = run_section(name)
        outcome["load_average"] = {"before": load_before, "after": load_average()}
        report["sections"][name] = outcome
        print(json.dumps(outcome, indent=2, default=str), flush=True)
    report["aims"] = aims(report["sections"])
    print_aims(report["aims"])
    path = write_results(report, Path("var/bench/results.json"))
    print(f"written to {path}")
    return 0 if all(s["status"] == "ok" for s in report["sections"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
