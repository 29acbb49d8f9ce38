"""Quality run time over one simulated day and one simulated year of a mid-size city.

Entry point::

    run(days: Sequence[int] = (1, 365), preset: str = "prefecture", seed: int = 7,
        start: str = "2025-01-01", quick: bool = False) -> dict

Each scenario runs in a fresh child process (chDB allows one data directory per process for its
whole life): it simulates ``days`` days of the city with ``simulation.simulate`` (the built-in
synthetic city below when the simulator is not available; the result says which), loads them
with ``load_direct`` into a temporary warehouse, imports Great Expectations (timed apart: once
per process), then times ``run_quality(all=True)`` and an incremental run with nothing new.
Baseline, in the same process right after: reading every warehouse table whole into pandas
through clickhouse-connect (what any pandas-batch validation pays before checking anything).
Targets on a 2-core machine: a day within 5 s, a year within 120 s. ``quick``: 1 and 7 days.

Alone: ``python -m bench.quality_bench [--days 1 365] [--preset prefecture] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

TARGET_SECONDS = {1: 5.0, 365: 120.0}
REPO = Path(__file__).resolve().parent.parent
KEY = b"quality-bench-key"


def run(
    days: Sequence[int] = (1, 365),
    preset: str = "prefecture",
    seed: int = 7,
    start: str = "2025-01-01",
    quick: bool = False,
) -> dict[str, Any]:
    """One child process per scenario; returns {"scenarios": [...]} with the timings."""
    if quick:
        days = (1, 7)
    scenarios = []
    for n in days:
        with tempfile.TemporaryDirectory(prefix="bt-quality-bench-") as tmp:
            out = Path(tmp) / "result.json"
            cmd = [
                sys.executable, "-m", "bench.quality_bench", "--scenario", str(n),
                "--preset", preset, "--seed", str(seed), "--start", start,
                "--data-dir", tmp, "--out", str(out),
            ]  # fmt: skip
            proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
            if proc.returncode != 0 or not out.exists():
                scenarios.append({"days": n, "error": (proc.stderr or proc.stdout).strip()[-2000:]})
                continue
            scenarios.append(json.loads(out.read_text()))
    return {"bench": "quality", "preset": preset, "seed": seed, "scenarios": scenarios}


# ---- one scenario, in its own process ----------------------------------------------------
def _events(preset: str, start: date, days: int, seed: int) -> tuple[str, Iterator[Any]]:
    try:
        from simulation import PRESETS, simulate
    except ImportError:  # the simulator is another module's; keep the bench runnable without it
        return "synthetic", synthetic_city(start, days, seed)
    events = simulate(PRESETS[preset], start=start, days=days, seed=seed, pseudonym_key=KEY)
    return "simulation", iter(events)


def scenario(preset: str, start: date, days: int, seed: int, data_dir: Path) -> dict[str, Any]:
    from infra.settings import Settings
    from infra.warehouse import connect, migrate
    from streams.sinks.warehouse import load_direct

    settings = Settings(data_dir=data_dir, warehouse_database="bench_quality")
    client = connect(settings)
    migrate(client)
    clock = time.perf_counter()
    source, events = _events(preset, start, days, seed)
    accepted, rejected = load_direct(client, events)
    load_seconds = time.perf_counter() - clock

    clock = time.perf_counter()
    import great_expectations  # noqa: F401 - timed apart: paid once per process

    import_seconds = time.perf_counter() - clock
    from expectations.runner import run_quality

    clock = time.perf_counter()
    full = run_quality(settings, all=True)
    full_seconds = time.perf_counter() - clock
    clock = time.perf_counter()
    run_quality(settings)
    incremental_seconds = time.perf_counter() - clock
    baseline_seconds = _read_everything(client)
    slowest = sorted(full.seconds.items(), key=lambda kv: -kv[1])[:6]
    target = TARGET_SECONDS.get(days)
    return {
        "days": days,
        "source": source,
        "events_loaded": accepted,
        "events_rejected": rejected,
        "load_seconds": round(load_seconds, 1),
        "gx_import_seconds": round(import_seconds, 2),
        "run_all_seconds": round(full_seconds, 2),
        "run_incremental_nothing_new_seconds": round(incremental_seconds, 2),
        "baseline_read_all_tables_seconds": round(baseline_seconds, 2),
        "run_vs_baseline": round(full_seconds / baseline_seconds, 1) if baseline_seconds else None,
        "target_seconds": target,
        "within_target": None if target is None else full_seconds <= target,
        "rows_checked": full.rows_checked,
        "checks_failed": {c.name: c.unexpected_count for c in full.failed_checks},
        "findings_by_severity": full.counts,
        "wastage_by_cause": {w["cause"]: w["units"] for w in full.wastage},
        "slowest_steps": dict(slowest),
    }


def _read_everything(client: Any) -> float:
    """Seconds to read every event table whole (payload JSON aside) into pandas."""
    from infra.tables import TABLES

    clock = time.perf_counter()
    for table in ["events", *(spec.table for spec in TABLES.values())]:
        columns = "* except (payload)" if table == "events" else "*"
        client.query_df(f"select {columns} from {table}")
    return time.perf_counter() - clock


# ---- the fallback city -------------------------------------------------------------------
_MARKERS = {
    "HBsAg": "ELISA", "anti-HCV": "ELISA", "anti-HIV": "ELISA", "anti-TP": "ELISA",
    "ALT": "rate", "HBV-DNA": "NAT", "HCV-RNA": "NAT", "HIV-RNA": "NAT",
}  # fmt: skip
_REACTIVE = {"ALT": 0.0141, "HBsAg": 0.0036, "anti-HCV": 0.0032, "anti-TP": 0.0027,
             "anti-HIV": 0.0014}  # fmt: skip
_GROUPS = {"O+": 0.30, "A+": 0.29, "B+": 0.30, "AB+": 0.10, "O-": 0.01}


def synthetic_city(
    start: date, days: int, seed: int, donations_per_day: int = 300, hospitals: int = 20
) -> Iterator[dict[str, Any]]:
    """A prefecture-sized city when the simulator is not available: ~300 donations a day
    through screening, components, storage, hospitals, transfusion or discard (published
    discard shares), and every fridge, freezer and agitator reporting each 30 minutes. Only
    events up to the end of the last day are emitted, as a warehouse would hold them."""
    rng = random.Random(seed)
    t0 = datetime(start.year, start.month, start.day, tzinfo=UTC)
    end = t0 + timedelta(days=days)
    station = "BS01"
    equipment = (
        {f"{station}-FR{i:02d}": ("fridge", station, 4.0) for i in range(1, 7)}
        | {f"{station}-FZ{i:02d}": ("freezer", station, -25.0) for i in range(1, 5)}
        | {f"{station}-AG{i:02d}": ("platelet_agitator", station, 22.0) for i in range(1, 3)}
    )
    for h in range(1, hospitals + 1):
        hid = f"H{h:02d}"
        equipment[f"{hid}-FR01"] = ("fridge", hid, 4.0)
        equipment[f"{hid}-FR02"] = ("fridge", hid, 4.0)
        equipment[f"{hid}-FZ01"] = ("freezer", hid, -25.0)
    pending: list[tuple[datetime, dict[str, Any]]] = []
    seq = 0
    for day in range(days):
        base = t0 + timedelta(days=day)
        out: list[dict[str, Any]] = []
        for eq, (kind, fac, temp) in equipment.items():
            for slot in range(48):
                at = base + timedelta(minutes=30 * slot)
                payload = {"equipment_id": eq, "equipment_kind": kind,
                           "temperature_c": round(temp + rng.uniform(-0.8, 0.8), 1),
                           "interval_seconds": 1800}  # fmt: skip
                if kind == "platelet_agitator":
                    payload["agitating"] = True
                out.append(_event("storage.temperature_recorded", at, fac, payload))
        for _ in range(max(0, int(rng.gauss(donations_per_day, donations_per_day * 0.1)))):
            seq += 1
            at = base + timedelta(hours=8, minutes=rng.uniform(0, 600))
            out.extend(_unit(rng, seq, at, station, hospitals, pending))
        # Events a unit produces later (hospital, expiry) join the day they happen.
        pending.sort(key=lambda p: p[0])
        while pending and pending[0][0] < base + timedelta(days=1):
            out.append(pending.pop(0)[1])
        for event in out:
            if datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00")) < end:
                yield event


def _event(kind: str, at: datetime, facility: str, payload: dict[str, Any]) -> dict[str, Any]:
    stamp = at.isoformat().replace("+00:00", "Z")
    return {"event_id": str(uuid.UUID(int=random.getrandbits(128))), "type": kind,
            "schema_version": 1, "occurred_at": stamp, "recorded_at": stamp,
            "facility_id": facility, "payload": payload}  # fmt: skip


def _unit(
    rng: random.Random,
    seq: int,
    at: datetime,
    station: str,
    hospitals: int,
    later: list[tuple[datetime, dict[str, Any]]],
) -> list[dict[str, Any]]:
    from models.isbt128 import make_din
    from models.pseudonym import pseudonymise

    din = make_din("C4501", at.year, seq)
    group = rng.choices(list(_GROUPS), weights=list(_GROUPS.values()))[0]
    apheresis = rng.random() < 0.1
    volume = 250 if apheresis else rng.choice([200, 300, 400, 400])
    hour = timedelta(hours=1)
    events = [
        _event("donation.collected", at, station, {
            "din": din, "donor_id": pseudonymise(f"donor-{seq}", KEY),
            "donation_kind": "apheresis_platelets" if apheresis else "whole_blood",
            "volume_ml": volume, "site_id": f"S{seq % 12:02d}", "site_kind": "fixed_house",
            "county_code": f"C{seq % 9:02d}", "abo_rh": group, "donor_group": "employee",
            "donor_age": 18 + seq % 37, "donor_sex": "M" if seq % 3 else "F",
            "first_time": seq % 5 == 0, "therapeutic_units": 1 if apheresis else 0,
        })
    ]  # fmt: skip
    reactive = next((m for m, p in _REACTIVE.items() if rng.random() < p), None)
    for rnd in (1, 2):
        results = [{"marker": m, "method": method, "reactive": m == reactive}
                   for m, method in _MARKERS.items()]  # fmt: skip
        events.append(_event("test.result_recorded", at + (2 + rnd) * hour, station,
                             {"din": din, "round": rnd, "results": results}))  # fmt: skip
    if reactive:
        events.append(_event("unit.discarded", at + 6 * hour, station,
                             {"din": din, "cause": "test_reactive", "volume_ml": volume}))  # fmt: skip
        return events
    made = at + 4 * hour
    parts = (
        [("E3087V00", "platelets", 250, timedelta(days=5), "AG01")]
        if apheresis
        else [("E0336V00", "red_cells", int(volume * 0.75), timedelta(days=35), "FR01"),
              ("E2534V00", "plasma", int(volume * 0.45), timedelta(days=365), "FZ01")]
    )  # fmt: skip
    for code, kind, ml, life, _ in parts:
        events.append(_event("component.produced", made, station, {
            "din": din, "product_code": code, "component_type": kind, "volume_ml": ml,
            "expires_at": (made + life).isoformat().replace("+00:00", "Z"), "abo_rh": group}))  # fmt: skip
    released = at + 7 * hour
    events.append(_event("unit.released", released, station, {"din": din}))
    for code, kind, ml, life, shelf in parts:
        events.append(_event("unit.stored", released, station, {
            "din": din, "product_code": code, "location_id": f"{station}-A",
            "equipment_id": f"{station}-{shelf[:2]}{rng.randint(1, 2):02d}"}))  # fmt: skip
        fate = rng.random()
        expires = made + life
        if kind == "plasma":
            if fate < 0.02:
                events.append(_event("unit.discarded", made + hour, station, {
                    "din": din, "product_code": code, "cause": "lipemia", "volume_ml": ml}))  # fmt: skip
            continue
        if fate < 0.03 or (kind == "platelets" and fate < 0.15):
            later.append((expires + hour, _event("unit.discarded", expires + hour, station, {
                "din": din, "product_code": code, "cause": "expired", "volume_ml": ml})))  # fmt: skip
            continue
        hospital = f"H{rng.randint(1, hospitals):02d}"
        shipped = released + timedelta(hours=rng.uniform(12, 60))
        if shipped + 2 * hour >= expires:
            continue
        ship = f"SH{seq}"
        for when, kind_, fac, body in (
            (shipped, "unit.shipped", station, {"shipment_id": ship, "to_facility_id": hospital}),
            (shipped + hour, "unit.received", hospital,
             {"shipment_id": ship, "from_facility_id": station, "temperature_c": 4.0}),
            (shipped + hour, "unit.stored", hospital,
             {"location_id": f"{hospital}-BB", "equipment_id": f"{hospital}-FR01"}),
        ):  # fmt: skip
            later.append(
                (when, _event(kind_, when, fac, {"din": din, "product_code": code, **body}))
            )
        issued = shipped + timedelta(hours=rng.uniform(6, 72))
        if issued >= expires:
            continue
        recipient = pseudonymise(f"patient-{seq}-{code}", KEY)
        later.append((issued, _event("unit.issued", issued, hospital, {
            "din": din, "product_code": code, "recipient_id": recipient, "ward": "SURG"})))  # fmt: skip
        if rng.random() < 0.01:
            later.append((issued + hour, _event("unit.returned", issued + hour, hospital, {
                "din": din, "product_code": code, "minutes_out_of_refrigeration": 50})))  # fmt: skip
            later.append((issued + 2 * hour, _event("unit.discarded", issued + 2 * hour, hospital, {
                "din": din, "product_code": code, "cause": "returned_out_of_control",
                "volume_ml": ml})))  # fmt: skip
            continue
        later.append((issued + hour, _event("unit.transfused", issued + hour, hospital, {
            "din": din, "product_code": code, "recipient_id": recipient,
            "recipient_abo_rh": group, "ward": "SURG", "indication": "surgery"})))  # fmt: skip
    return events


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, nargs="+", default=[1, 365])
    parser.add_argument("--preset", default="prefecture")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", default="2025-01-01")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--scenario", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scenario is not None:
        result = scenario(
            args.preset, date.fromisoformat(args.start), args.scenario, args.seed,
            Path(args.data_dir),
        )  # fmt: skip
        Path(args.out).write_text(json.dumps(result, default=str))
        return 0
    report = run(args.days, args.preset, args.seed, args.start)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    for s in report["scenarios"]:
        if "error" in s:
            print(f"{s['days']:>4} days: failed\n{s['error']}")
            continue
        print(
            f"{s['days']:>4} days ({s['source']}, {s['events_loaded']:,} events): quality run "
            f"{s['run_all_seconds']} s (target {s['target_seconds']} s), incremental "
            f"{s['run_incremental_nothing_new_seconds']} s, GX import {s['gx_import_seconds']} s, "
            f"baseline read {s['baseline_read_all_tables_seconds']} s, load {s['load_seconds']} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
