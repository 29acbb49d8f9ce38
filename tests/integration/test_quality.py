"""Quality runs over a real chDB warehouse loaded with hand-made wire events.

A small city (station BS01, a second station BS02, hospital H01) where eight units go through
every path a unit takes: transfused, returned too long out of the fridge, discarded for lipemia,
caught in a fridge excursion, reactive at screening, expired. ``city(...)`` builds it clean or
with one known defect each; the runs must find exactly those defects, and nothing on clean data.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import events_factory
import orjson
import pytest
from clickhouse_connect.driver.client import Client

from expectations.runner import QualityRun, quality_summary, run_quality
from infra.settings import Settings
from infra.warehouse import connect, migrate
from models.alerts import ALERT_COLUMNS, Alert, alert_row
from models.isbt128 import make_din
from models.pseudonym import pseudonymise
from streams.sinks.warehouse import load_direct

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
END = T0 + timedelta(days=3)
KEY = b"quality-test-key"
SEROLOGY = {"HBsAg": "ELISA", "anti-HCV": "ELISA", "anti-HIV": "ELISA", "anti-TP": "ELISA"}
MARKERS = {**SEROLOGY, "ALT": "rate", "HBV-DNA": "NAT", "HCV-RNA": "NAT", "HIV-RNA": "NAT"}
RED_CELLS, PLASMA, WASHED = "E0336V00", "E2534V00", "E0450V00"


def is_serology(marker: str | None) -> bool:
    return marker is not None and MARKERS.get(marker) != "NAT"


_iso = events_factory.iso  # the times here are UTC already


def event(kind: str, at: datetime, facility: str, **payload: Any) -> dict[str, Any]:
    return events_factory.recorded(kind, at, payload, facility)


@dataclass
class City:
    events: list[dict[str, Any]] = field(default_factory=list)
    dins: dict[str, str] = field(default_factory=dict)  # unit name -> 13-character DIN

    def add(self, kind: str, at: datetime, facility: str = "BS01", **payload: Any) -> None:
        self.events.append(event(kind, at, facility, **payload))

    def readings(
        self,
        equipment: str,
        kind: str,
        facility: str,
        until: datetime,
        celsius: float,
        hot: tuple[datetime, datetime, float] | None = None,
    ) -> None:
        """A reading every 30 minutes from T0; ``hot`` = (from, to, temperature)."""
        at = T0
        while at <= until:
            temp = hot[2] if hot and hot[0] <= at < hot[1] else celsius
            self.add(
                "storage.temperature_recorded",
                at,
                facility,
                equipment_id=equipment,
                equipment_kind=kind,
                temperature_c=temp,
                interval_seconds=1800,
            )
            at += timedelta(minutes=30)

    def donation(self, name: str, seq: int, start: datetime, group: str = "O+") -> str:
        din = make_din("G1234", 26, seq)
        self.dins[name] = din[:13]
        self.add(
            "donation.collected",
            start,
            din=din,
            donor_id=pseudonymise(f"donor-{seq}", KEY),
            donation_kind="whole_blood",
            volume_ml=400,
            site_id="S01",
            site_kind="fixed_house",
            county_code="610902",
            abo_rh=group,
            donor_group="student",
            donor_age=21,
            donor_sex="M",
            first_time=True,
        )
        return din

    def screening(
        self, din: str, start: datetime, *, reactive: str | None = None, skip: str | None = None
    ) -> None:
        """Serology in rounds 1 and 2, NAT once (round 1); ``skip`` leaves a marker out of its
        last round."""
        for rnd in (1, 2):
            last = 2 if is_serology(skip) else 1
            results = [
                {
                    "marker": m,
                    "method": method,
                    "reactive": m == reactive,
                    **({"value": 120.0 if m == reactive else 20.0} if m == "ALT" else {}),
                }
                for m, method in MARKERS.items()
                if (rnd == 1 or method != "NAT") and not (rnd == last and m == skip)
            ]
            self.add(
                "test.result_recorded",
                start + timedelta(hours=1 + rnd),
                din=din,
                round=rnd,
                results=results,
            )

    def component(
        self,
        din: str,
        code: str,
        kind: str,
        ml: int,
        at: datetime,
        life: timedelta,
        group: str = "O+",
    ) -> None:
        self.add(
            "component.produced",
            at,
            din=din,
            product_code=code,
            component_type=kind,
            volume_ml=ml,
            expires_at=_iso(at + life),
            abo_rh=group,
        )

    def processed(self, din: str, start: datetime, group: str = "O+", **screening: Any) -> None:
        """Screened, split into red cells (fridge FR01) and plasma (freezer FZ01), released."""
        self.screening(din, start, **screening)
        made = start + timedelta(hours=4)
        self.component(din, RED_CELLS, "red_cells", 300, made, timedelta(days=35), group)
        self.component(din, PLASMA, "plasma", 180, made, timedelta(days=365), group)
        released = start + timedelta(hours=5)
        self.add("unit.released", released, din=din)
        self.add(
            "unit.stored",
            released,
            din=din,
            product_code=RED_CELLS,
            location_id="BS01-A",
            equipment_id="FR01",
        )
        self.add(
            "unit.stored",
            released,
            din=din,
            product_code=PLASMA,
            location_id="BS01-A",
            equipment_id="FZ01",
        )

    def to_hospital(self, din: str, start: datetime) -> None:
        shipped = start + timedelta(days=1)
        self.add(
            "unit.shipped",
            shipped,
            din=din,
            product_code=RED_CELLS,
            shipment_id="SH1",
            to_facility_id="H01",
        )
        self.add(
            "unit.received",
            shipped + timedelta(hours=1),
            "H01",
            din=din,
            product_code=RED_CELLS,
            shipment_id="SH1",
            from_facility_id="BS01",
            temperature_c=4.0,
        )
        self.add(
            "unit.stored",
            shipped + timedelta(hours=1),
            "H01",
            din=din,
            product_code=RED_CELLS,
            location_id="H01-BB",
            equipment_id="HFR1",
        )

    def transfused(self, din: str, start: datetime, *, issue_late: bool = False) -> None:
        recipient = pseudonymise(f"patient-{din}", KEY)
        day2 = start + timedelta(days=2)
        self.add(
            "crossmatch.performed",
            day2,
            "H01",
            din=din,
            product_code=RED_CELLS,
            recipient_id=recipient,
            recipient_abo_rh="O+",
            compatible=True,
        )
        issued = day2 + timedelta(hours=3 if issue_late else 1)
        self.add(
            "unit.issued",
            issued,
            "H01",
            din=din,
            product_code=RED_CELLS,
            recipient_id=recipient,
            ward="ICU",
        )
        self.add(
            "unit.transfused",
            day2 + timedelta(hours=2),
            "H01",
            din=din,
            product_code=RED_CELLS,
            recipient_id=recipient,
            recipient_abo_rh="O+",
            ward="ICU",
            indication="anaemia",
        )


def city(
    *,
    missing_marker: bool = False,
    expired_after_excursion: bool = False,
    out_of_order: bool = False,
    silent_station: bool = False,
) -> City:
    """The hand-made city; each flag plants one known defect."""
    c = City()
    hour = timedelta(hours=1)
    # U1: transfused at the hospital.
    din = c.donation("U1", 1, T0)
    c.processed(din, T0)
    c.to_hospital(din, T0)
    c.transfused(din, T0)
    # U2: issued, returned after 45 min out of the fridge, discarded as such.
    din = c.donation("U2", 2, T0 + 10 * timedelta(minutes=1), group="A+")
    start = T0 + 10 * timedelta(minutes=1)
    c.processed(din, start, group="A+")
    c.to_hospital(din, start)
    day2 = start + timedelta(days=2)
    c.add("unit.issued", day2 + hour, "H01", din=din, product_code=RED_CELLS, ward="SURG")
    c.add(
        "unit.returned",
        day2 + 2 * hour,
        "H01",
        din=din,
        product_code=RED_CELLS,
        minutes_out_of_refrigeration=45,
    )
    c.add(
        "unit.discarded",
        day2 + 3 * hour,
        "H01",
        din=din,
        product_code=RED_CELLS,
        cause="returned_out_of_control",
        volume_ml=300,
    )
    # U3: plasma discarded for lipemia at the station.
    din = c.donation("U3", 3, T0 + 20 * timedelta(minutes=1))
    c.processed(din, T0 + 20 * timedelta(minutes=1))
    c.add(
        "unit.discarded",
        T0 + 7 * hour,
        din=din,
        product_code=PLASMA,
        cause="lipemia",
        volume_ml=180,
        note="milky plasma",
    )
    # U4: red cells in fridge FR02, which ran at 10 °C for 90 minutes on day 1.
    din = c.donation("U4", 4, T0 + 30 * timedelta(minutes=1))
    c.screening(din, T0)
    c.component(din, RED_CELLS, "red_cells", 300, T0 + 4 * hour, timedelta(days=35))
    c.add("unit.released", T0 + 5 * hour, din=din)
    c.add(
        "unit.stored",
        T0 + 5 * hour,
        din=din,
        product_code=RED_CELLS,
        location_id="BS01-B",
        equipment_id="FR02",
    )
    cause = "expired" if expired_after_excursion else "cold_chain_breach"
    c.add(
        "unit.discarded",
        T0 + timedelta(days=2),
        din=din,
        product_code=RED_CELLS,
        cause=cause,
        volume_ml=300,
    )
    # U5: transfused; with out_of_order, the issue is stamped after the transfusion.
    din = c.donation("U5", 5, T0 + 40 * timedelta(minutes=1))
    start = T0 + 40 * timedelta(minutes=1)
    c.processed(din, start)
    c.to_hospital(din, start)
    c.transfused(din, start, issue_late=out_of_order)
    # U6: released and in stock; with missing_marker, round 2 has no anti-HIV result.
    din = c.donation("U6", 6, T0 + 50 * timedelta(minutes=1), group="B+")
    c.processed(
        din, T0 + 50 * timedelta(minutes=1), group="B+", skip="anti-HIV" if missing_marker else None
    )
    # U7: ALT reactive in round 1: never released, the whole donation discarded.
    din = c.donation("U7", 7, T0 + hour)
    c.screening(din, T0 + hour, reactive="ALT")
    c.add("unit.discarded", T0 + 5 * hour, din=din, cause="test_reactive", volume_ml=400)
    # U8: washed red cells (24 h shelf life) kept past expiry and discarded as expired.
    din = c.donation("U8", 8, T0 + 70 * timedelta(minutes=1))
    start = T0 + 70 * timedelta(minutes=1)
    c.screening(din, start)
    c.component(din, WASHED, "washed_red_cells", 200, start + 5 * hour, timedelta(hours=24))
    c.add("unit.released", start + 5 * hour, din=din)
    c.add(
        "unit.stored",
        start + 5 * hour,
        din=din,
        product_code=WASHED,
        location_id="BS01-A",
        equipment_id="FR01",
    )
    c.add(
        "unit.discarded",
        start + timedelta(days=1, hours=6),
        din=din,
        product_code=WASHED,
        cause="expired",
        volume_ml=200,
    )
    # Equipment: every fridge and freezer reports every 30 minutes until END.
    excursion = (T0 + timedelta(days=1, hours=2), T0 + timedelta(days=1, hours=3, minutes=30))
    c.readings("FR01", "fridge", "BS01", END, 4.0)
    c.readings("FZ01", "freezer", "BS01", END, -25.0)
    c.readings("FR02", "fridge", "BS01", END, 4.0, hot=(*excursion, 10.0))
    c.readings("HFR1", "fridge", "H01", END, 4.0)
    c.readings("BS02-FR", "fridge", "BS02", T0 + 6 * hour if silent_station else END, 4.0)
    return c


@pytest.fixture
def warehouse(warehouse_settings: Settings) -> tuple[Settings, Client]:
    """A fresh database in the session's chDB directory (one directory per process)."""
    client = connect(warehouse_settings)
    migrate(client)
    return warehouse_settings, client


def load(client: Client, events: list[dict[str, Any]]) -> None:
    accepted, rejected = load_direct(client, events)
    assert (accepted, rejected) == (len(events), 0)


def found(run: QualityRun) -> set[tuple[str, str]]:
    """(check, DIN or facility) of every finding."""
    return {(f.check, f.din or f.facility_id) for f in run.findings}


def test_clean_city_gives_no_findings(warehouse: tuple[Settings, Client]) -> None:
    settings, client = warehouse
    load(client, city().events)
    run = run_quality(settings, all=True)
    assert [c.name for c in run.checks if c.error] == []
    assert found(run) == set()
    assert not run.critical_failed
    assert run.rows_checked > 1000
    # Every discard's cause was derived from the evidence and agrees with the record.
    causes = {w["cause"]: w["units"] for w in run.wastage}
    assert causes == {
        "returned_out_of_control": 1,
        "lipemia": 1,
        "cold_chain_breach": 1,
        "test_reactive": 1,
        "expired": 1,
    }
    stored = client.query("select count() from quality_findings").result_rows[0][0]
    assert stored == 0
    assert run.docs_index is not None and run.docs_index.exists()
    assert (run.docs_index.parent / "validations").is_dir()


def test_known_defects_are_found_exactly(warehouse: tuple[Settings, Client]) -> None:
    settings, client = warehouse
    c = city(
        missing_marker=True, expired_after_excursion=True, out_of_order=True, silent_station=True
    )
    load(client, c.events)
    run = run_quality(settings, all=True)
    assert found(run) == {
        ("release_screening.full_negative_screening", c.dins["U6"]),
        ("wastage.cause_matches_evidence", c.dins["U4"]),
        ("units.transfused_after_issued", c.dins["U5"]),
        ("freshness.facility_reporting", "BS02"),
    }
    assert run.critical_failed  # a unit released without its full screening is critical
    by_check = {f.check: f for f in run.findings}

    missing = by_check["release_screening.full_negative_screening"]
    assert missing.severity == "critical"
    assert "anti-HIV (round 2)" in missing.message_en
    assert "anti-HIV（第2轮）" in missing.message_zh

    wasted = by_check["wastage.cause_matches_evidence"]
    assert wasted.cause == "cold_chain_breach"
    assert wasted.evidence["recorded_cause"] == "expired"
    excursion = wasted.evidence["evidence"][0]
    assert excursion["detail"]["equipment_id"] == "FR02"
    assert excursion["detail"]["minutes"] == 90.0
    assert "FR02" in wasted.message_en and "冷链失控" in wasted.message_zh

    silent = by_check["freshness.facility_reporting"]
    assert silent.evidence["silent_hours"] == pytest.approx(66.0)

    # What was stored is what the run returned, and the summary counts it.
    rows = client.query(
        "select check_name, din, facility_id, severity, message_en, message_zh "
        "from quality_findings where run_id = {r:String}",
        parameters={"r": run.run_id},
    ).result_rows
    assert {(r[0], r[1] or r[2]) for r in rows} == found(run)
    assert all(r[4] and r[5] for r in rows)
    summary = quality_summary(client, settings=settings)
    assert summary["findings_by_severity"] == {"critical": 1, "warning": 3, "info": 0}
    assert {w["cause"]: w["disputed"] for w in summary["wastage_by_cause"]}[
        "cold_chain_breach"
    ] == 1


def test_incremental_runs_check_only_new_data(warehouse: tuple[Settings, Client]) -> None:
    settings, client = warehouse
    load(client, city().events)
    first = run_quality(settings)  # no earlier run: everything
    assert first.window.mode == "incremental" and first.window.start is None
    assert found(first) == set()

    # A new unit arrives, released although round 2 never tested anti-TP.
    late = City()
    at = END - timedelta(hours=6)
    din = late.donation("U9", 9, at)
    late.processed(din, at, skip="anti-TP")
    din = late.donation("U10", 10, at)  # and one whose NAT never ran
    late.processed(din, at, skip="HCV-RNA")
    load(client, late.events)
    second = run_quality(settings)
    assert second.window.start == first.window.end
    assert found(second) == {
        ("release_screening.full_negative_screening", late.dins["U9"]),
        ("release_screening.full_negative_screening", late.dins["U10"]),
    }
    gaps = {f.din: f.message_en for f in second.findings}
    assert "anti-TP (round 2)" in gaps[late.dins["U9"]]
    assert "HCV-RNA (NAT)" in gaps[late.dins["U10"]]
    donations = next(c for c in second.checks if c.name == "donations.one_donation_per_din")
    assert donations.element_count == 2  # only the new donations were read

    third = run_quality(settings)
    assert found(third) == set()
    assert all(c.element_count == 0 for c in third.checks if c.suite not in ("freshness",))


def test_units_without_disposition_after_expiry(warehouse: tuple[Settings, Client]) -> None:
    settings, client = warehouse
    c = city()
    load(client, c.events)
    # Judged 45 days on, the red cells still in stock (U1's plasma etc. have a year left) are
    # lost; every facility has of course been silent since the data ends.
    run = run_quality(settings, all=True, as_of=T0 + timedelta(days=45))
    lost = {f.din for f in run.findings if f.check == "disposition.final_disposition"}
    assert lost == {c.dins["U3"], c.dins["U6"]}  # red cells never transfused nor discarded
    silent = {f.facility_id for f in run.findings if f.check == "freshness.facility_reporting"}
    assert silent == {"BS01", "BS02", "H01"}


def test_din_check_character_of_records_written_elsewhere(
    warehouse: tuple[Settings, Client],
) -> None:
    """The platform stores validated events; rows another writer put in the warehouse get the
    same scrutiny: a DIN whose check character does not match is critical."""
    settings, client = warehouse
    load(client, city().events)
    good = make_din("G1234", 26, 42)
    bad = good[:13] + ("A" if good[13] != "A" else "B")
    for n, din in enumerate((good, bad)):
        raw = event("unit.released", END, "BS01", din=din)
        client.insert(
            "events",
            [
                [
                    uuid.UUID(raw["event_id"]),
                    "unit.released",
                    1,
                    END,
                    END,
                    "BS01",
                    din[:13],
                    orjson.dumps(raw).decode(),
                    9,
                    n,
                ]
            ],
            column_names=[
                "event_id",
                "event_type",
                "schema_version",
                "occurred_at",
                "recorded_at",
                "facility_id",
                "din",
                "payload",
                "src_partition",
                "src_offset",
            ],
        )
    run = run_quality(settings, all=True, build_docs=False)
    flagged = [f for f in run.findings if f.check == "events.din_check_character"]
    assert [f.evidence["din_as_sent"] for f in flagged] == [bad]
    assert flagged[0].severity == "critical" and good in flagged[0].message_en


def test_http_api_runs_checks_and_serves_findings(warehouse: tuple[Settings, Client]) -> None:
    from fastapi.testclient import TestClient
    from harness import without_platform_auth

    from api.app import create_api
    from api.routes.quality import quality_settings

    settings, client = warehouse
    c = city(missing_marker=True)
    load(client, c.events)
    api = without_platform_auth(create_api())
    api.dependency_overrides[quality_settings] = lambda: settings
    with TestClient(api) as http:
        body = http.post("/v1/quality/runs", json={"all": True}).json()
        assert body["critical_failed"] is True
        assert body["findings_by_severity"] == {"critical": 1, "warning": 0, "info": 0}
        findings = http.get("/v1/quality/findings", params={"severity": "critical"}).json()
        assert findings["run_id"] == body["run_id"]
        assert [f["din"] for f in findings["findings"]] == [c.dins["U6"]]
        assert "anti-HIV" in findings["findings"][0]["message_zh"]
        runs = http.get("/v1/quality/runs").json()["runs"]
        assert [r["run_id"] for r in runs] == [body["run_id"]] and runs[0]["critical"] == 1
        summary = http.get("/v1/quality/summary").json()
        assert sum(w["units"] for w in summary["wastage_by_cause"]) == 5
        assert http.get("/v1/quality/findings", params={"severity": "bad"}).status_code == 422
        assert http.post("/v1/quality/runs", json={"since": "soon"}).status_code == 422
        suites = http.get("/v1/quality/suites").json()
        assert any(s["suite"] == "wastage" for s in suites)


def test_cli_prints_findings_and_exits_non_zero_on_critical(
    warehouse: tuple[Settings, Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from cli.main import app
    from infra.settings import get_settings

    settings, client = warehouse
    c = city(missing_marker=True, silent_station=True)
    load(client, c.events)
    assert settings.warehouse_url is not None
    env = {
        "BLOODTRACE_DATA_DIR": str(settings.data_dir),
        "BLOODTRACE_WAREHOUSE_URL": settings.warehouse_url.get_secret_value(),
        "BLOODTRACE_WAREHOUSE_DATABASE": settings.warehouse_database,
        "BLOODTRACE_API_URL": "http://127.0.0.1:9",  # no platform: work on the warehouse
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        result = runner.invoke(app, ["quality", "run", "--all", "--json"])
        assert result.exit_code == 4, result.output
        body = orjson.loads(result.stdout)
        assert body["findings_by_severity"] == {"critical": 1, "warning": 1, "info": 0}

        result = runner.invoke(app, ["quality", "run"])  # nothing new: BS02 is still silent
        assert result.exit_code == 0, result.output
        assert "freshness.facility_reporting" in result.stdout
        assert "BS02" in result.stdout

        result = runner.invoke(app, ["quality", "findings", "--severity", "warning"])
        assert result.exit_code == 0 and "机构BS02" in result.stdout

        result = runner.invoke(app, ["quality", "run", "--since", "whenever"])
        assert result.exit_code == 2 and "neither a date" in result.output
    finally:
        get_settings.cache_clear()


def test_cold_chain_alerts_count_as_evidence(warehouse: tuple[Settings, Client]) -> None:
    """Without the fridge's readings in the warehouse, the cold-chain processor's alert about
    the unit is the evidence that an 'expired' discard was really a cold-chain loss."""
    settings, client = warehouse
    c = city(expired_after_excursion=True)
    c.events = [
        e
        for e in c.events
        if not (
            e["type"] == "storage.temperature_recorded" and e["payload"]["equipment_id"] == "FR02"
        )
    ]
    load(client, c.events)
    before = run_quality(settings, all=True, build_docs=False)
    unsupported = {(f.check, f.din) for f in before.findings if f.check.startswith("wastage")}
    assert unsupported == {("wastage.cause_has_evidence", c.dins["U4"])}

    alert = Alert(
        rule="coldchain.excursion_unit_quarantine",
        severity="critical",
        subject=c.dins["U4"],
        message_en="Unit was in FR02 during a confirmed cold-chain excursion.",
        message_zh="血液存放于FR02期间发生冷链失控。",
        occurred_at=T0 + timedelta(days=1, hours=2),
        din=c.dins["U4"],
        product_code=RED_CELLS,
        facility_id="BS01",
        equipment_id="FR02",
    )
    client.insert("alerts", [alert_row(alert.to_record(), 0, 0)], column_names=list(ALERT_COLUMNS))
    after = run_quality(settings, all=True, build_docs=False)
    wastage = [f for f in after.findings if f.check.startswith("wastage")]
    assert [(f.check, f.din, f.cause) for f in wastage] == [
        ("wastage.cause_matches_evidence", c.dins["U4"], "cold_chain_breach")
    ]
    assert wastage[0].evidence["evidence"][0]["source"] == "alerts"
    assert "FR02" in wastage[0].message_en


def test_running_platform_runs_the_checks_for_the_cli(
    platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the platform owns the warehouse, the CLI asks its API; its scheduled job runs
    incrementally on top."""
    from typer.testing import CliRunner

    from cli.main import app
    from infra.settings import get_settings
    from infra.warehouse import thread_client

    c = city(missing_marker=True)
    load(thread_client(platform.settings), c.events)  # the platform's own warehouse
    # The CLI gets only the API's address: a warehouse it could open itself does not exist.
    monkeypatch.setenv("BLOODTRACE_API_URL", platform.url)
    monkeypatch.setenv("BLOODTRACE_WAREHOUSE_URL", "http://127.0.0.1:9")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["quality", "run", "--all", "--json"])
        assert result.exit_code == 4, result.output
        body = orjson.loads(result.stdout)
        assert {(f["check"], f["din"]) for f in body["findings"]} == {
            ("release_screening.full_negative_screening", c.dins["U6"])
        }
        result = CliRunner().invoke(app, ["quality", "findings", "--json"])
        assert [f["din"] for f in orjson.loads(result.stdout)] == [c.dins["U6"]]
    finally:
        get_settings.cache_clear()
    job = platform.platform.run_job("quality")
    assert job["status"] == "ok", job
    assert job["result"]["findings_by_severity"] == {"critical": 0, "warning": 0, "info": 0}
    assert job["result"]["wastage_units_by_cause"]["cold_chain_breach"] == 1
