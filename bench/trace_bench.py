"""Trace and lookback latency over a warehouse of millions of units, against full scans.

Entry point::

    run(units: int = 10_000_000, samples: int = 200, settings: Settings | None = None,
        keep: bool = False) -> dict[str, Any]

``units`` donations (DINs) are generated inside the warehouse with ``INSERT ... SELECT`` from
``numbers()`` (no Python per row), each with a realistic chain of about 14 events (donation, two
test rounds, red cells and plasma, release, storage, shipment, receipt, hospital storage, issue
and transfusion of each component or a discard), plus fridge temperature readings every 10
minutes with occasional excursions. ``settings`` picks the warehouse (chDB allows one data path
per process: pass the caller's to share it); the data goes into its own database
``bench_trace`` (dropped afterwards unless ``keep``). Then, in one run, for ``samples`` random
subjects each:

- trace: ``streams.trace.unit_traces`` (the service behind GET /v1/units/{din}/trace; also
  timed with its audit row, and reading ``events`` instead of ``unit_events``);
- recipient and donor trace: ``recipient_trace`` / ``donor_trace`` (lineage, then traces);
- lookback: ``streams.lookback.lookback_scope`` (every donation of the donor, every component,
  where each is now, who received it);
- against each, the straightforward way over the same data: read ``events``, find a person's
  units with ``where recipient_id = ...`` / ``where donor_id = ...`` on ``events``, and no
  primary key (``use_primary_key = 0``, no skip indexes, no query-condition cache), i.e. full
  scans. Scans take seconds, so they get at most 20 samples.

Timing starts once background merges of the load have settled; the machine's load average is
reported with the figures (the machine is shared). Returns a dict of p50/p99 milliseconds per
query and the load figures; run it with
``python -m bench.trace_bench [units] [samples]``.
"""

from __future__ import annotations

import functools
import hashlib
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from infra.settings import Settings
from infra.warehouse import WarehouseClient, connect, migrate
from models.lifecycle import Policy, fact_from_wire, fold
from streams.lookback import lookback_scope
from streams.trace import (
    Requester,
    donor_trace,
    recipient_trace,
    record_audit,
    unit_traces,
)

DATABASE = "bench_trace"
BLOCK = 250_000  # units per (station, year): one station's DIN sequence numbers for a year
STATIONS = 20
HOSPITALS = 50
CHUNK = 500_000  # units per INSERT ... SELECT
EVENTS_PER_UNIT = 14  # k = 0..13; the plasma of every fifth unit is discarded (12 then)
SCAN_SAMPLES = 20  # full scans take seconds each: fewer of them
BENCH_REQUESTER = Requester("bench", "cli", "bench@localhost")

# Per-unit values, computed from `number` (the unit's index). Time within a year follows the
# sequence number, shifted half a year for every other group of 10 blocks, so that a donor's
# donations (n, n + D, n + 2D, ...) fall about six months apart.
_UNIT = """
    number as n,
    intDiv(n, {block}) as block,
    block % {stations} as st,
    22 + intDiv(block, {stations}) as yr,
    n % {block} + 1 as seq,
    concat('G', toString(1000 + st), toString(yr), leftPad(toString(seq), 6, '0')) as din,
    arrayFold((acc, x) -> toInt64(((acc + if(x >= 65, x - 55, x - 48)) * 2) % 37),
              arrayMap(i -> toInt64(reinterpretAsUInt8(substring(din, i, 1))), range(1, 14)),
              toInt64(0)) as mod_p,
    concat(din, substring('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*', ((38 - mod_p) % 37) + 1, 1))
        as din14,
    ((seq + if(intDiv(block, 10) % 2 = 1, intDiv({block}, 2), 0)) % {block}) / {block} as frac,
    toDateTime64(concat('20', toString(yr), '-01-01 06:00:00'), 3, 'UTC')
        + toIntervalSecond(toUInt32(frac * 360 * 86400)) as t0,
    concat('BS', leftPad(toString(st), 2, '0')) as station,
    concat('H', leftPad(toString(n % {hospitals}), 2, '0')) as hospital,
    concat('ps_', lower(hex(MD5(concat('donor-', toString(n % {donors})))))) as donor,
    concat('ps_', lower(hex(MD5(concat('recipient-', toString(cityHash64(n, 1) % {recipients}))))))
        as r1,
    concat('ps_', lower(hex(MD5(concat('recipient-', toString(cityHash64(n, 2) % {recipients}))))))
        as r2,
    ['O+', 'A+', 'B+', 'AB+', 'O-', 'A-', 'B-', 'AB-'][n % 8 + 1] as abo,
    n % 5 = 0 as plasma_discarded,
    t0 + toIntervalDay(3 + n % 20) as rc_issue_at,
    t0 + toIntervalDay(10 + n % 100) as pl_issue_at
"""

# One row per (unit, k): what the k-th event of a unit is.
_EVENT = """
    arrayJoin(if(plasma_discarded, range(13), range(14))) as k,
    toUUID(concat('00000000-0000-4000-8000-', leftPad(lower(hex(n * 16 + k)), 12, '0')))
        as event_id,
    ['donation.collected', 'test.result_recorded', 'test.result_recorded',
     'component.produced', 'component.produced', 'unit.released', 'unit.stored', 'unit.shipped',
     'unit.received', 'unit.stored', 'unit.issued', 'unit.transfused',
     if(plasma_discarded, 'unit.discarded', 'unit.issued'), 'unit.transfused'][k + 1]
        as event_type,
    [t0, t0 + toIntervalHour(4), t0 + toIntervalHour(8), t0 + toIntervalHour(3),
     t0 + toIntervalHour(3), t0 + toIntervalHour(10), t0 + toIntervalHour(11),
     t0 + toIntervalHour(24), t0 + toIntervalHour(26), t0 + toIntervalHour(27), rc_issue_at,
     rc_issue_at + toIntervalHour(1), if(plasma_discarded, t0 + toIntervalHour(5), pl_issue_at),
     pl_issue_at + toIntervalHour(1)][k + 1] as at,
    if(k in (8, 9, 10, 11, 12, 13) and not (k = 12 and plasma_discarded), hospital, station)
        as facility,
    multiIf(k in (3, 10, 11), 'E0336V00', k in (4, 12, 13), 'E2555V00', '') as product_code,
    multiIf(k in (10, 11), r1, k in (12, 13) and not plasma_discarded, r2, '') as recipient,
    multiIf(k = 6, concat('FR-', station), k = 9, concat('FR-', hospital), '') as equipment,
    formatDateTime(at, '%Y-%m-%dT%H:%i:%SZ') as at_iso,
    multiIf(
        k = 0,
        concat('{{"din":"', din14, '","donor_id":"', donor, '","donation_kind":"whole_blood",',
               '"volume_ml":400,"site_id":"S01","site_kind":"fixed_house","county_code":"C01",',
               '"abo_rh":"', abo, '","donor_group":"employee","donor_age":', toString(20 + n % 35),
               ',"donor_sex":"M","first_time":false}}'),
        k = 1,
        concat('{{"din":"', din14, '","round":1,"results":[',
               '{{"marker":"HBsAg","method":"ELISA","reactive":false}},',
               '{{"marker":"anti-HCV","method":"ELISA","reactive":false}},',
               '{{"marker":"anti-HIV","method":"ELISA","reactive":false}},',
               '{{"marker":"anti-TP","method":"ELISA","reactive":false}},',
               '{{"marker":"ALT","method":"rate","reactive":false,"value":21.0}}]}}'),
        k = 2,
        concat('{{"din":"', din14, '","round":2,"results":[',
               '{{"marker":"HBsAg","method":"CLIA","reactive":false}},',
               '{{"marker":"anti-HCV","method":"CLIA","reactive":false}},',
               '{{"marker":"anti-HIV","method":"CLIA","reactive":false}},',
               '{{"marker":"anti-TP","method":"CLIA","reactive":false}},',
               '{{"marker":"HBV-DNA","method":"NAT","reactive":false}},',
               '{{"marker":"HCV-RNA","method":"NAT","reactive":false}},',
               '{{"marker":"HIV-RNA","method":"NAT","reactive":false}}]}}'),
        k = 3,
        concat('{{"din":"', din14, '","product_code":"E0336V00","component_type":"red_cells",',
               '"volume_ml":280,"expires_at":"',
               formatDateTime(t0 + toIntervalDay(35), '%Y-%m-%dT%H:%i:%SZ'),
               '","abo_rh":"', abo, '"}}'),
        k = 4,
        concat('{{"din":"', din14, '","product_code":"E2555V00","component_type":"plasma",',
               '"volume_ml":200,"expires_at":"',
               formatDateTime(t0 + toIntervalDay(365), '%Y-%m-%dT%H:%i:%SZ'),
               '","abo_rh":"', abo, '"}}'),
        k = 5,
        concat('{{"din":"', din14, '"}}'),
        k = 6,
        concat('{{"din":"', din14, '","location_id":"L01","equipment_id":"FR-', station, '"}}'),
        k = 7,
        concat('{{"din":"', din14, '","shipment_id":"SH', toString(n), '","to_facility_id":"',
               hospital, '"}}'),
        k = 8,
        concat('{{"din":"', din14, '","shipment_id":"SH', toString(n), '","from_facility_id":"',
               station, '","temperature_c":4.0}}'),
        k = 9,
        concat('{{"din":"', din14, '","location_id":"BB","equipment_id":"FR-', hospital, '"}}'),
        k = 10,
        concat('{{"din":"', din14, '","product_code":"E0336V00","recipient_id":"', r1,
               '","ward":"W1"}}'),
        k = 11,
        concat('{{"din":"', din14, '","product_code":"E0336V00","recipient_id":"', r1,
               '","recipient_abo_rh":"', abo, '","ward":"W1","indication":"anaemia"}}'),
        k = 12,
        if(plasma_discarded,
           concat('{{"din":"', din14, '","product_code":"E2555V00","cause":"lipemia",',
                  '"volume_ml":200,"note":""}}'),
           concat('{{"din":"', din14, '","product_code":"E2555V00","recipient_id":"', r2,
                  '","ward":"W2"}}')),
        concat('{{"din":"', din14, '","product_code":"E2555V00","recipient_id":"', r2,
               '","recipient_abo_rh":"', abo, '","ward":"W2","indication":"coagulopathy"}}')
    ) as body
"""


def _generator(start: int, count: int, units: int) -> str:
    params = {
        "block": BLOCK,
        "stations": STATIONS,
        "hospitals": HOSPITALS,
        "donors": max(1, units // 4),
        "recipients": max(1, units // 2),
    }
    unit = _UNIT.format(**params)
    event = _EVENT.format(**params)
    return f"(select *, {event} from (select {unit} from numbers({start}, {count})))"


_EVENTS_INSERT = """
insert into events (event_id, event_type, schema_version, occurred_at, recorded_at, facility_id,
                    din, product_code, donor_id, recipient_id, equipment_id, payload,
                    src_partition, src_offset)
select event_id, event_type, 1, at, at + toIntervalSecond(5), facility, din, product_code,
       if(k = 0, donor, ''), recipient, equipment,
       concat('{{"event_id":"', toString(event_id), '","type":"', event_type,
              '","schema_version":1,"occurred_at":"', at_iso, '","recorded_at":"',
              formatDateTime(at + toIntervalSecond(5), '%Y-%m-%dT%H:%i:%SZ'),
              '","facility_id":"', facility, '","payload":', body, '}}'),
       0, n * 16 + k
from {source}
"""

# The typed tables the lineage views read (donations, issues, transfusions); trace and lookback
# read `events` and `unit_lineage` only, so the other typed tables stay empty here.
_TYPED_INSERTS = (
    """
insert into donations (event_id, occurred_at, recorded_at, facility_id, din, donor_id,
                       donation_kind, volume_ml, site_id, site_kind, county_code, abo_rh,
                       donor_group, donor_age, donor_sex, first_time, therapeutic_units,
                       src_partition, src_offset)
select event_id, at, at + toIntervalSecond(5), facility, din, donor, 'whole_blood', 400, 'S01',
       'fixed_house', 'C01', abo, 'employee', 20 + n % 35, 'M', false, 0, 0, n * 16 + k
from {source} where k = 0
""",
    """
insert into unit_issues (event_id, occurred_at, recorded_at, facility_id, din, product_code,
                         recipient_id, ward, src_partition, src_offset)
select event_id, at, at + toIntervalSecond(5), facility, din, product_code, recipient, 'W',
       0, n * 16 + k
from {source} where event_type = 'unit.issued'
""",
    """
insert into transfusions (event_id, occurred_at, recorded_at, facility_id, din, product_code,
                          recipient_id, recipient_abo_rh, ward, indication, src_partition,
                          src_offset)
select event_id, at, at + toIntervalSecond(5), facility, din, product_code, recipient, abo, 'W',
       'bench', 0, n * 16 + k
from {source} where event_type = 'unit.transfused'
""",
)

# Fridge readings every 10 minutes over the span of the data; one in 997 is 9.5 C (out of the
# 2-6 C range), so some stays show an excursion.
_TEMPERATURE_INSERT = """
insert into temperature_readings (event_id, occurred_at, recorded_at, facility_id, equipment_id,
                                  equipment_kind, temperature_c, agitating, interval_seconds,
                                  src_partition, src_offset)
select generateUUIDv4(), at, at, facility, equipment, 'fridge',
       if(cityHash64(number) % 997 = 0, 9.5, 3.0 + (number % 20) / 10), null, 600, 0, number
from (
    select number,
           intDiv(number, {per_equipment}) as e,
           if(e < {stations}, concat('BS', leftPad(toString(e), 2, '0')),
              concat('H', leftPad(toString(e - {stations}), 2, '0'))) as facility,
           concat('FR-', facility) as equipment,
           toDateTime64('20{first_year}-01-01 00:00:00', 3, 'UTC')
               + toIntervalSecond((number % {per_equipment}) * 600) as at
    from numbers({total})
)
"""


def load(
    client: WarehouseClient, units: int, *, progress: Callable[[str], None] = print
) -> dict[str, Any]:
    """Fill events, the lineage tables and temperature readings with ``units`` donations."""
    started = time.perf_counter()
    for start in range(0, units, CHUNK):
        count = min(CHUNK, units - start)
        source = _generator(start, count, units)
        client.command(_EVENTS_INSERT.format(source=source))
        for statement in _TYPED_INSERTS:
            client.command(statement.format(source=source))
        progress(
            f"  loaded {start + count:,} / {units:,} units ({time.perf_counter() - started:.0f} s)"
        )
    years = 1 + (units - 1) // (BLOCK * STATIONS)
    per_equipment = (years * 365 + 120) * 144  # every 10 minutes, into the spring after
    client.command(
        _TEMPERATURE_INSERT.format(
            per_equipment=per_equipment,
            stations=STATIONS,
            first_year=22,
            total=per_equipment * (STATIONS + HOSPITALS),
        )
    )
    seconds = time.perf_counter() - started
    counts = {
        table: int(client.query(f"select count() from {table}").result_rows[0][0])
        for table in ("events", "unit_lineage", "temperature_readings")
    }
    return {"load_seconds": round(seconds, 1), "rows": counts}


# ---- sampling ---------------------------------------------------------------------------------
def din_of(n: int) -> str:
    """The 13-character DIN the generator gives unit ``n``."""
    block = n // BLOCK
    return f"G{1000 + block % STATIONS}{22 + block // STATIONS}{n % BLOCK + 1:06d}"


def donor_of(n: int, units: int) -> str:
    return "ps_" + hashlib.md5(f"donor-{n % max(1, units // 4)}".encode()).hexdigest()


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def _stats(samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"n": len(ordered), "p50_ms": pick(0.50), "p99_ms": pick(0.99), "max_ms": pick(1.0)}


def events_reader(client: WarehouseClient, dins: Sequence[str], *, recalls: bool = False) -> Any:
    """The spine's way: a unit's events from ``events`` (raw JSON, 8192-row granules)."""
    rows = client.query(
        "select din, payload from events where din in {dins:Array(String)}",
        parameters={"dins": list(dins)},
    ).result_rows
    facts: dict[str, list[Any]] = {}
    for din, payload in rows:
        fact = fact_from_wire(payload)
        if fact is not None:
            facts.setdefault(din, []).append(fact)
    return facts, {}


class _Scans:
    """The straightforward way: read ``events``, no lineage table, no primary key (so every
    lookup scans the tables it reads)."""

    def __init__(self, client: WarehouseClient, settings: Settings) -> None:
        self.client = client
        self.policy = Policy.from_settings(settings)

    def _dins(self, column: str, person: str) -> list[str]:
        rows = self.client.query(
            f"select distinct din from events where {column} = {{p:String}} and din != ''",
            parameters={"p": person},
        ).result_rows
        return [r[0] for r in rows]

    def trace(self, din: str) -> Any:
        return unit_traces(self.client, [din], self.policy, reader=events_reader)

    def recipient(self, person: str) -> Any:
        dins = self._dins("recipient_id", person)
        return unit_traces(self.client, dins, self.policy, reader=events_reader)

    def donor(self, person: str) -> Any:
        dins = self._dins("donor_id", person)
        return unit_traces(self.client, dins, self.policy, reader=events_reader)

    def lookback(self, person: str) -> Any:
        facts, _ = events_reader(self.client, self._dins("donor_id", person))
        return [fold(unit, self.policy) for unit in facts.values()]


def measure(
    client: WarehouseClient, settings: Settings, units: int, samples: int
) -> dict[str, Any]:
    """p50/p99 of each lookup on indexed reads, and on scans over the same data."""
    rng = random.Random(20260614)
    policy = Policy.from_settings(settings)
    picks = [rng.randrange(units) for _ in range(samples)]
    dins = [din_of(n) for n in picks]
    donors = [donor_of(n, units) for n in picks]
    recipients = [
        row[0]
        for row in client.query(
            "select any(person_id) from unit_lineage where role = 'transfused' "
            "and din in {dins:Array(String)} group by din",
            parameters={"dins": dins},
        ).result_rows
    ]
    # The donor's latest donation is the index of its lookback.
    latest = {
        donor: din
        for donor, din in client.query(
            "select person_id, argMax(din, occurred_at) from unit_lineage "
            "where person_id in {p:Array(String)} and role = 'donor' group by person_id",
            parameters={"p": donors},
        ).result_rows
    }
    scan_client = connect(settings)
    # Switch the indexes off and forget cached filter results: every query reads it all.
    for key, value in {
        "use_primary_key": 0,
        "use_skip_indexes": 0,
        "use_query_condition_cache": 0,
        "optimize_use_projections": 0,
    }.items():
        scan_client.set_client_setting(key, value)
    scans = _Scans(scan_client, settings)

    def trace_with_audit(i: int) -> None:
        unit_traces(client, [dins[i]], policy)
        record_audit(client, BENCH_REQUESTER, "trace.unit", dins[i], "ok")

    fast: dict[str, Callable[[int], Any]] = {
        "trace": lambda i: unit_traces(client, [dins[i]], policy),
        "trace_from_events_table": lambda i: unit_traces(
            client, [dins[i]], policy, reader=events_reader
        ),
        "trace_with_audit": trace_with_audit,
        "recipient_trace": lambda i: recipient_trace(client, recipients[i], settings),
        "donor_trace": lambda i: donor_trace(client, donors[i], settings),
        "lookback": lambda i: lookback_scope(client, donors[i], latest[donors[i]], policy),
    }
    slow: dict[str, Callable[[int], Any]] = {
        "trace": lambda i: scans.trace(dins[i]),
        "recipient_trace": lambda i: scans.recipient(recipients[i]),
        "donor_trace": lambda i: scans.donor(donors[i]),
        "lookback": lambda i: scans.lookback(donors[i]),
    }
    results: dict[str, Any] = {}
    for name, fn in fast.items():
        for i in range(min(5, samples)):  # warm up
            fn(i)
        count = min(samples, len(recipients)) if name == "recipient_trace" else samples
        results[name] = _stats([_timed(functools.partial(fn, i)) for i in range(count)])
        print(f"  {name:26} {results[name]}", flush=True)
    scan_samples = min(samples - 1, SCAN_SAMPLES)
    for name, fn in slow.items():
        fn(0)  # warm up
        key = f"{name}_full_scan"
        results[key] = _stats(
            [_timed(functools.partial(fn, i)) for i in range(1, scan_samples + 1)]
        )
        print(f"  {key:26} {results[key]}", flush=True)
    return results


def settle(client: WarehouseClient, limit: float = 900.0) -> float:
    """Wait until the warehouse merges nothing of ours for 5 s running (or ``limit`` s): time
    a warehouse at rest, not one still digesting its load."""
    started = time.perf_counter()
    quiet_since = time.perf_counter()
    while time.perf_counter() - started < limit:
        busy = client.query(
            "select count() from system.merges where database = {db:String}",
            parameters={"db": DATABASE},
        ).result_rows[0][0]
        if busy:
            quiet_since = time.perf_counter()
        elif time.perf_counter() - quiet_since >= 5:
            break
        time.sleep(1)
    return time.perf_counter() - started


def run(
    units: int = 10_000_000,
    samples: int = 200,
    settings: Settings | None = None,
    keep: bool = False,
) -> dict[str, Any]:
    """Load ``units`` donations into database ``bench_trace`` and time trace and lookback."""
    own_dir: Path | None = None
    if settings is None:
        own_dir = Path(tempfile.mkdtemp(prefix="bloodtrace-trace-bench-"))
        settings = Settings(data_dir=own_dir, pseudonym_key="bench")
    settings = settings.model_copy(update={"warehouse_database": DATABASE})
    client = connect(settings)
    client.command(f"drop database if exists {DATABASE} sync")
    client.command(f"create database {DATABASE}")
    migrate(client)
    try:
        print(f"loading {units:,} units into {settings.warehouse_dsn} ({DATABASE})", flush=True)
        loaded = load(client, units)
        print(f"  {loaded}", flush=True)
        settle_seconds = settle(client)
        print(f"  background merges settled after {settle_seconds:.0f} s", flush=True)
        load_before = os.getloadavg()[0]
        print(f"timing {samples} lookups of each kind (load average {load_before:.1f})")
        # The first trace on a new connection, before any warm-up: what a quality officer
        # meets right after a platform start (caches of this process are already warm).
        fresh = connect(settings)
        first_din = din_of(random.Random(7).randrange(units))
        first_trace_ms = round(
            _timed(lambda: unit_traces(fresh, [first_din], Policy.from_settings(settings))), 1
        )
        print(f"  first trace on a new connection: {first_trace_ms} ms", flush=True)
        figures = measure(client, settings, units, samples)
        figures["first_trace_ms"] = first_trace_ms
        tables = {
            table: {"parts": int(parts), "compressed": size}
            for table, parts, size in client.query(
                "select table, count(), formatReadableSize(sum(data_compressed_bytes)) "
                "from system.parts where active and database = {db:String} group by table",
                parameters={"db": DATABASE},
            ).result_rows
        }
        return {
            "units": units,
            **loaded,
            "merge_settle_seconds": round(settle_seconds),
            "tables": tables,
            "cpus": os.cpu_count(),
            "load_average_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "latency": figures,
        }
    finally:
        if not keep:
            client.command(f"drop database if exists {DATABASE} sync")
            if own_dir is not None:
                shutil.rmtree(own_dir, ignore_errors=True)


if __name__ == "__main__":
    import orjson

    args = [int(a.replace("_", "")) for a in sys.argv[1:3]]
    units, samples = args + [10_000_000, 200][len(args) :]
    report = run(units, samples)
    sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
