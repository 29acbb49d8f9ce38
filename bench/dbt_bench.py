"""dbt over one simulated province-year: a full `dbt build`, then incremental runs a day later.

Entry point (called by ``python -m bench``, section ``dbt``)::

    run(donations: int = 1_100_000, days: int = 365, quick: bool = False,
        keep: bool = False) -> dict[str, Any]

The province is the simulator's (``PRESETS["province"]``: 10 stations, each serving 3 copies of
the seed city's counties; simulation.reference writes its seeds into a copy of dbt/ so the
relationship tests hold). ``donations`` donations over ``days`` days, with every event of each
unit's life, are generated inside the warehouse with ``INSERT ... SELECT`` from ``numbers()``
into the typed tables (no Python per row): registrations, two screening rounds (13 marker rows),
release or a test-reactive discard, components (red cells, plasma, some cryoprecipitate,
apheresis platelets), storage, shipment, receipt, crossmatch, issue, transfusion or return,
reactions, station and hospital discards, and temperature readings from every fridge, freezer,
agitator and transport box every 30 minutes. At the default size that is about 30 million
events. (The `events` envelope table is left empty: the marts read the typed tables.)

Every row is stamped as ingested 30 s after it was recorded (the year arrived over the year,
not in the minute the benchmark loads it), so the incremental runs see only the new day as new.

Then, timed in this process (dbt imported beforehand, as in the running platform):
1. ``dbt build`` from nothing: seeds, every model, data test and unit test;
2. one more simulated day is loaded, then ``dbt run --selector refresh`` (every table and
   incremental model; the incremental facts take only the new day);
3. another day, then ``dbt run`` (views too);
4. another day, then the platform's scheduled build (``build`` without unit tests).
``quick`` shrinks the province to check that the benchmark works. Returns the figures as a
dict; ``python -m bench.dbt_bench [donations]`` prints them.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from infra.dbt_runner import PROJECT_DIR, SCHEDULED_BUILD, DbtResult, run_dbt
from infra.settings import Settings
from infra.tables import TABLE_NAMES
from infra.warehouse import WarehouseClient, connect, migrate
from simulation import PRESETS
from simulation.reference import Region, build_regions, load_city, write_reference

LOCAL = ZoneInfo("Asia/Shanghai")
START = date(2025, 1, 1)
MARKERS_ROUND_1 = ["HBsAg", "anti-HCV", "anti-HIV", "anti-TP", "ALT"]
MARKERS_ROUND_2 = [*MARKERS_ROUND_1, "HBV-DNA", "HCV-RNA", "HIV-RNA"]
TEMPERATURE_INTERVAL_SECONDS = 1800


def _array(values: list[Any]) -> str:
    return "[" + ", ".join(_literal(v) for v in values) + "]"


def _literal(value: Any) -> str:
    if isinstance(value, list):
        return _array(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(value)


def _province(project: Path, quick: bool) -> list[Region]:
    """The province's regions, its seeds written over the city's in the project copy."""
    cfg = PRESETS["province"]
    stations = 2 if quick else cfg.stations
    city = load_city()
    regions = build_regions(
        city,
        station_id=cfg.station_id,
        din_facility=cfg.din_facility,
        stations=stations,
        county_replicas=cfg.county_replicas,
    )
    write_reference(regions, city.campaigns, project / "seeds")
    return regions


# ---- the plan: one row per donation and per unit, every event time decided up front --------
def _plan(client: WarehouseClient, regions: list[Region], donations: int, days: int) -> None:
    stations = len(regions)
    sites = [[s.site_id for s in r.sites] for r in regions]
    site_kinds = [[s.kind for s in r.sites] for r in regions]
    site_counties = [[s.county_code for s in r.sites] for r in regions]
    hospitals = [[h.facility_id for h in r.hospitals] for r in regions]
    station_ids = [r.station_id for r in regions]
    din_facilities = [r.din_facility for r in regions]
    start = datetime.combine(START, datetime.min.time(), LOCAL).astimezone(ZoneInfo("UTC"))
    # Three extra days beyond the year: the increments.
    total = donations * (days + 3) // days
    client.command("drop table if exists bench_donations")
    client.command(
        f"""
        create table bench_donations engine = MergeTree order by n as
        with
            {_array(station_ids)} as station_ids,
            {_array(din_facilities)} as din_facilities,
            {_array(sites)} as site_ids,
            {_array(site_kinds)} as site_kind_list,
            {_array(site_counties)} as site_county_list,
            {_array(hospitals)} as hospital_list
        select
            number as n,
            number % {stations} + 1 as station,
            cityHash64(number, 1) as h,
            toDateTime64('{start:%Y-%m-%d %H:%M:%S}', 3, 'UTC')
                + toIntervalSecond(
                    intDiv(number * {days}, {donations}) * 86400 + 8 * 3600 + h % 36000
                ) as collected_at,
            station_ids[station] as facility_id,
            concat(
                din_facilities[station],
                leftPad(toString(toYear(collected_at) % 100), 2, '0'),
                leftPad(toString(intDiv(number, {stations}) % 1000000), 6, '0')
            ) as din,
            h % length(site_ids[station]) + 1 as site_index,
            site_ids[station][site_index] as site_id,
            site_kind_list[station][site_index] as site_kind,
            site_county_list[station][site_index] as county_code,
            hospital_list[station] as station_hospitals,
            concat('ps_', lower(hex(MD5(toString(cityHash64(number, 2) % {max(1, total * 3 // 5)})))))
                as donor_id,
            multiIf(h % 100 < 90, 'whole_blood', h % 100 < 98, 'apheresis_platelets',
                    'apheresis_plasma') as donation_kind,
            multiIf(donation_kind = 'whole_blood', [200, 300, 400][intDiv(h, 100) % 3 + 1],
                    donation_kind = 'apheresis_platelets', 250, 300) as volume_ml,
            if(donation_kind = 'apheresis_platelets', 1 + intDiv(h, 1000) % 2, 0)
                as therapeutic_units,
            multiIf(intDiv(h, 7) % 100 < 30, 'O+', intDiv(h, 7) % 100 < 58, 'A+',
                    intDiv(h, 7) % 100 < 86, 'B+', intDiv(h, 7) % 100 < 96, 'AB+',
                    intDiv(h, 7) % 100 < 97, 'O-', intDiv(h, 7) % 100 < 98, 'A-',
                    intDiv(h, 7) % 100 < 99, 'B-', 'AB-') as abo_rh,
            ['student', 'employee', 'civil_servant', 'rural_resident', 'other'][
                intDiv(h, 11) % 5 + 1] as donor_group,
            toInt32(18 + intDiv(h, 13) % 38) as donor_age,
            if(intDiv(h, 17) % 100 < 64, 'M', 'F') as donor_sex,
            intDiv(h, 19) % 100 < 60 as first_time,
            intDiv(h, 23) % 1000 < 15 as reactive
        from numbers({total})
        """
    )
    client.command("drop table if exists bench_units")
    client.command(
        """
        create table bench_units engine = MergeTree order by (din, product_code) as
        select
            d.*,
            c.1 as product_code,
            c.2 as component_type,
            c.3 as shelf_days,
            cityHash64(din, product_code) as u,
            collected_at + toIntervalHour(3) as produced_at,
            produced_at + toIntervalDay(shelf_days) as expires_at,
            collected_at + toIntervalHour(20) as released_at,
            multiIf(reactive, 'reactive', u % 1000 < 20, 'station_discard',
                    u % 1000 < 870, 'shipped', 'kept') as fate,
            released_at + toIntervalHour(2 + intDiv(u, 1000) % 46) as shipped_at,
            shipped_at + toIntervalHour(2) as received_at,
            station_hospitals[intDiv(u, 3) % length(station_hospitals) + 1] as hospital_id,
            fate = 'shipped' and intDiv(u, 7) % 100 < 88 as issued,
            received_at + toIntervalHour(
                1 + intDiv(u, 100) % if(component_type = 'platelets', 60, 200)) as issued_at,
            issued and intDiv(u, 9) % 100 = 0 as returned,
            issued_at + toIntervalHour(1) as transfused_at,
            issued and not returned and intDiv(u, 11) % 1000 < 3 as reaction,
            fate = 'shipped' and not issued and intDiv(u, 13) % 100 < 30 as hospital_discard
        from bench_donations as d
        array join multiIf(
            donation_kind = 'whole_blood',
                if(h % 5 = 0,
                   [('E0336VA0', 'red_cells', 35), ('E2555VB0', 'plasma', 365),
                    ('E3585VC0', 'cryoprecipitate', 365)],
                   [('E0336VA0', 'red_cells', 35), ('E2555VB0', 'plasma', 365)]),
            donation_kind = 'apheresis_platelets',
                if(therapeutic_units = 2,
                   [('E3090VA0', 'platelets', 5), ('E3090VB0', 'platelets', 5)],
                   [('E3090VA0', 'platelets', 5)]),
            [('E2555VA0', 'plasma', 365)]
        ) as c
        """
    )


def _equipment(regions: list[Region]) -> list[tuple[str, str, str]]:
    return [(e.equipment_id, e.facility_id, e.kind) for r in regions for e in r.equipment]


# ---- loading a time window of every event ---------------------------------------------------
def _id(kind: str, *parts: str) -> str:
    joined = ", '|', ".join(parts)
    return f"reinterpretAsUUID(MD5(concat('{kind}|', {joined})))"


def _window(column: str, lo: str, hi: str) -> str:
    return (
        f"{column} >= toDateTime64('{lo}', 3, 'UTC') and {column} < toDateTime64('{hi}', 3, 'UTC')"
    )


def _load(
    client: WarehouseClient, regions: list[Region], lo: datetime, hi: datetime
) -> dict[str, int]:
    """Insert every planned event that occurs in [lo, hi); returns events per event type."""
    a, b = f"{lo:%Y-%m-%d %H:%M:%S}", f"{hi:%Y-%m-%d %H:%M:%S}"
    envelope = "event_id, occurred_at, recorded_at, facility_id"
    tail = "src_partition, src_offset"
    statements: dict[str, str] = {
        "donor.registered": f"""
            insert into donor_registrations ({envelope}, donor_id, birth_date, sex, abo_rh,
                donor_group, county_code, {tail})
            select {_id("reg", "din")}, collected_at - toIntervalMinute(10),
                collected_at - toIntervalMinute(10), facility_id, donor_id,
                toDate32(subtractYears(toDate(collected_at), donor_age)), donor_sex, abo_rh,
                donor_group, county_code, 0, n
            from bench_donations
            where first_time and {_window("collected_at - toIntervalMinute(10)", a, b)}""",
        "donation.collected": f"""
            insert into donations ({envelope}, din, donor_id, donation_kind, volume_ml, site_id,
                site_kind, county_code, abo_rh, donor_group, donor_age, donor_sex, first_time,
                therapeutic_units, {tail})
            select {_id("don", "din")}, collected_at, collected_at, facility_id, din, donor_id,
                donation_kind, volume_ml, site_id, site_kind, county_code, abo_rh, donor_group,
                donor_age, donor_sex, first_time, therapeutic_units, 0, n
            from bench_donations
            where {_window("collected_at", a, b)}""",
        "test.result_recorded": f"""
            insert into test_results ({envelope}, din, round, marker, method, reactive, value,
                {tail})
            select {_id("test", "din", "toString(t.1)")}, collected_at + toIntervalHour(3 + t.1),
                collected_at + toIntervalHour(3 + t.1), facility_id, din, t.1, m.1, m.2,
                reactive and t.1 = 2 and m.1 = 'ALT', null, 0, n
            from bench_donations
            array join [(1, {_array(MARKERS_ROUND_1)}), (2, {_array(MARKERS_ROUND_2)})] as t
            array join arrayMap(x -> (x, multiIf(x = 'ALT', 'rate', x like '%-%NA', 'NAT',
                'ELISA')), t.2) as m
            where {_window("collected_at + toIntervalHour(3 + t.1)", a, b)}""",
        "unit.released": f"""
            insert into unit_releases ({envelope}, din, {tail})
            select {_id("rel", "din")}, collected_at + toIntervalHour(20),
                collected_at + toIntervalHour(20), facility_id, din, 0, n
            from bench_donations
            where not reactive and {_window("collected_at + toIntervalHour(20)", a, b)}""",
        "component.produced": f"""
            insert into components ({envelope}, din, product_code, component_type, volume_ml,
                expires_at, abo_rh, {tail})
            select {_id("comp", "din", "product_code")}, produced_at, produced_at, facility_id,
                din, product_code, component_type, toInt32(volume_ml * 0.6), expires_at, abo_rh,
                0, n
            from bench_units
            where {_window("produced_at", a, b)}""",
        "unit.stored": f"""
            insert into unit_storage ({envelope}, din, product_code, location_id, equipment_id,
                {tail})
            select {_id("sto", "din", "product_code", "s.3")}, s.1, s.1, s.2, din, product_code,
                'bank', concat(s.2, '-FR01'), 0, n
            from bench_units
            array join
                [(produced_at + toIntervalHour(1), facility_id, 'station'),
                 (received_at + toIntervalMinute(10), hospital_id, 'hospital')] as s
            where (s.3 = 'station' or fate = 'shipped') and {_window("s.1", a, b)}""",
        "unit.shipped": f"""
            insert into shipments ({envelope}, din, product_code, shipment_id, to_facility_id,
                {tail})
            select {_id("shp", "din", "product_code")}, shipped_at, shipped_at, facility_id,
                din, product_code, concat('SH', din), hospital_id, 0, n
            from bench_units
            where fate = 'shipped' and {_window("shipped_at", a, b)}""",
        "unit.received": f"""
            insert into receipts ({envelope}, din, product_code, shipment_id, from_facility_id,
                temperature_c, {tail})
            select {_id("rcv", "din", "product_code")}, received_at, received_at, hospital_id,
                din, product_code, concat('SH', din), facility_id, 4.0, 0, n
            from bench_units
            where fate = 'shipped' and {_window("received_at", a, b)}""",
        "crossmatch.performed": f"""
            insert into crossmatches ({envelope}, din, product_code, recipient_id,
                recipient_abo_rh, compatible, {tail})
            select {_id("xm", "din", "product_code")}, issued_at - toIntervalMinute(30),
                issued_at - toIntervalMinute(30), hospital_id, din, product_code,
                concat('ps_', lower(hex(MD5(concat('r', toString(u % 5000000)))))), abo_rh,
                true, 0, n
            from bench_units
            where issued and component_type = 'red_cells'
                and {_window("issued_at - toIntervalMinute(30)", a, b)}""",
        "unit.issued": f"""
            insert into unit_issues ({envelope}, din, product_code, recipient_id, ward, {tail})
            select {_id("iss", "din", "product_code")}, issued_at, issued_at, hospital_id, din,
                product_code, concat('ps_', lower(hex(MD5(concat('r', toString(u % 5000000)))))),
                'surgery', 0, n
            from bench_units
            where issued and {_window("issued_at", a, b)}""",
        "unit.returned": f"""
            insert into unit_returns ({envelope}, din, product_code,
                minutes_out_of_refrigeration, {tail})
            select {_id("ret", "din", "product_code")}, issued_at + toIntervalMinute(30),
                issued_at + toIntervalMinute(30), hospital_id, din, product_code, 25.0, 0, n
            from bench_units
            where returned and {_window("issued_at + toIntervalMinute(30)", a, b)}""",
        "unit.transfused": f"""
            insert into transfusions ({envelope}, din, product_code, recipient_id,
                recipient_abo_rh, ward, indication, {tail})
            select {_id("trf", "din", "product_code")}, transfused_at, transfused_at,
                hospital_id, din, product_code,
                concat('ps_', lower(hex(MD5(concat('r', toString(u % 5000000)))))), abo_rh,
                'surgery', 'anaemia', 0, n
            from bench_units
            where issued and not returned and {_window("transfused_at", a, b)}""",
        "transfusion.reaction_reported": f"""
            insert into transfusion_reactions ({envelope}, din, product_code, recipient_id,
                category, severity, {tail})
            select {_id("rea", "din", "product_code")}, transfused_at + toIntervalHour(1),
                transfused_at + toIntervalHour(1), hospital_id, din, product_code,
                concat('ps_', lower(hex(MD5(concat('r', toString(u % 5000000)))))),
                ['febrile', 'allergic', 'taco'][u % 3 + 1], 'non_severe', 0, n
            from bench_units
            where reaction and {_window("transfused_at + toIntervalHour(1)", a, b)}""",
        "unit.discarded": f"""
            insert into discards ({envelope}, din, product_code, cause, volume_ml, note, {tail})
            select {_id("dis", "din", "''")}, collected_at + toIntervalHour(6),
                collected_at + toIntervalHour(6), facility_id, din, '', 'test_reactive',
                volume_ml, '', 0, n
            from bench_donations
            where reactive and {_window("collected_at + toIntervalHour(6)", a, b)}
            union all
            select {_id("dis", "din", "product_code")}, at, at, place, din, product_code,
                cause, toInt32(volume_ml * 0.6), '', 0, n
            from (
                select *,
                    if(fate = 'station_discard', released_at + toIntervalHour(4),
                       expires_at + toIntervalHour(1)) as at,
                    if(fate = 'station_discard', facility_id, hospital_id) as place,
                    if(fate = 'station_discard', ['lipemia', 'bag_leak', 'hemolysis'][u % 3 + 1],
                       'expired') as cause
                from bench_units
                where fate = 'station_discard' or hospital_discard
            )
            where {_window("at", a, b)}""",
    }
    loaded: dict[str, int] = {}
    for event_type, sql in statements.items():
        table = TABLE_NAMES[event_type]  # the typed table the platform writes the type to
        before = _rows(client, table)
        client.command(sql)
        loaded[event_type] = _rows(client, table) - before
    # Screening: one event per round, 5 and 8 marker rows.
    markers = len(MARKERS_ROUND_1) + len(MARKERS_ROUND_2)
    loaded["test.result_recorded"] = loaded["test.result_recorded"] * 2 // markers
    loaded["storage.temperature_recorded"] = _temperatures(client, regions, lo, hi)
    return loaded


def _rows(client: WarehouseClient, table: str) -> int:
    return int(client.query(f"select count() from {table}").result_rows[0][0])


def _temperatures(
    client: WarehouseClient, regions: list[Region], lo: datetime, hi: datetime
) -> int:
    equipment = _equipment(regions)
    readings = int((hi - lo).total_seconds()) // TEMPERATURE_INTERVAL_SECONDS
    devices = len(equipment)
    client.command(
        f"""
        insert into temperature_readings (event_id, occurred_at, recorded_at, facility_id,
            equipment_id, equipment_kind, temperature_c, agitating, interval_seconds,
            src_partition, src_offset)
        with {_array([e[0] for e in equipment])} as ids,
             {_array([e[1] for e in equipment])} as facilities,
             {_array([e[2] for e in equipment])} as kinds
        select
            reinterpretAsUUID(MD5(concat('tmp|', toString(at), ids[device]))),
            at, at, facilities[device], ids[device], kinds[device],
            multiIf(kinds[device] = 'freezer', -25.0, kinds[device] = 'platelet_agitator', 22.0,
                    4.0) + (cityHash64(number) % 100) / 100.0,
            if(kinds[device] = 'platelet_agitator', true, null),
            {TEMPERATURE_INTERVAL_SECONDS}, 0, number
        from (
            select number, number % {devices} + 1 as device,
                toDateTime64('{lo:%Y-%m-%d %H:%M:%S}', 3, 'UTC')
                    + toIntervalSecond(intDiv(number, {devices}) * {TEMPERATURE_INTERVAL_SECONDS})
                    as at
            from numbers({devices * readings})
        )
        """
    )
    return devices * readings


# ---- the benchmark ----------------------------------------------------------------------------
def _timed(settings: Settings, project: Path, args: list[str]) -> tuple[DbtResult, float]:
    started = time.perf_counter()
    result = run_dbt(settings, args, project_dir=project, quiet=True)
    seconds = time.perf_counter() - started
    if not result.success:
        failed = [(n.name, n.status, (n.message or "")[:300]) for n in result.failed]
        raise RuntimeError(f"dbt {' '.join(args)} failed: {failed}")
    return result, seconds


def _slowest(result: DbtResult, count: int = 8) -> list[dict[str, Any]]:
    nodes = sorted(result.nodes, key=lambda n: -n.seconds)[:count]
    return [{"node": n.name, "type": n.resource_type, "seconds": n.seconds} for n in nodes]


def _load_average() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def _stamp_ingestion(client: WarehouseClient) -> None:
    """Rows written without ingested_at get recorded_at + 30 s (this warehouse only)."""
    tables = client.query(
        "select table from system.columns where database = currentDatabase() "
        "and name = 'ingested_at' and table in (select table from system.columns "
        "where database = currentDatabase() and name = 'recorded_at')"
    ).result_rows
    for (table,) in tables:
        client.command(
            f"alter table {table} modify column ingested_at DateTime64(3, 'UTC') "
            "default recorded_at + toIntervalSecond(30)"
        )


def run(
    donations: int = 1_100_000, days: int = 365, quick: bool = False, keep: bool = False
) -> dict[str, Any]:
    if quick:
        donations, days = min(donations, 40_000), min(days, 60)
    workdir = Path(tempfile.mkdtemp(prefix="bloodtrace-dbt-bench-"))
    try:
        project = workdir / "dbt"
        shutil.copytree(
            PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
        )
        regions = _province(project, quick)
        settings = Settings(data_dir=workdir / "data")
        client = connect(settings)
        migrate(client)
        _stamp_ingestion(client)

        started = time.perf_counter()
        _plan(client, regions, donations, days)
        year_start = datetime.combine(START, datetime.min.time(), LOCAL)
        cutoff = year_start + timedelta(days=days)
        base = _load(client, regions, year_start, cutoff)
        load_seconds = time.perf_counter() - started
        events = sum(base.values())
        client.close()

        import dbt.cli.main  # noqa: F401  - imported before timing, as in the platform

        full, full_seconds = _timed(settings, project, ["build"])

        def next_day(day: int) -> int:
            client = connect(settings)
            lo = cutoff + timedelta(days=day - 1)
            loaded = _load(client, regions, lo, lo + timedelta(days=1))
            client.close()
            return sum(loaded.values())

        day_one = next_day(1)
        refresh, refresh_seconds = _timed(
            settings, project, ["run", "--selector", "refresh", "--no-write-json"]
        )
        next_day(2)
        incremental, incremental_seconds = _timed(settings, project, ["run"])
        next_day(3)
        scheduled, scheduled_seconds = _timed(settings, project, SCHEDULED_BUILD)

        return {
            "stations": len(regions),
            "donations_per_year": donations * 365 // days,
            "events_loaded": events,
            "events_by_type": base,
            "load_seconds": round(load_seconds, 1),
            "full_build_seconds": round(full_seconds, 1),
            "full_build_nodes": full.counts,
            "full_build_slowest": _slowest(full),
            "next_day_events": day_one,
            "refresh_run_seconds": round(refresh_seconds, 1),
            "refresh_run_slowest": _slowest(refresh),
            "incremental_run_seconds": round(incremental_seconds, 1),
            "incremental_run_slowest": _slowest(incremental),
            "scheduled_build_next_day_seconds": round(scheduled_seconds, 1),
            "scheduled_build_nodes": scheduled.counts,
            "aim": {"full_build_seconds": 60, "refresh_run_seconds": 5},
            "load_average": _load_average(),
            "data_dir": str(workdir) if keep else None,
        }
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1_100_000
    print(json.dumps(run(donations=size, quick=size < 100_000), indent=2))
