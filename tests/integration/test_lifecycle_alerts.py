"""Each safety rule, broken on purpose by a hand-written unit, raises its alert through the
real broker, the lifecycle processor (unit and donor agents, lost-unit timer) and the alerts
table, with its evidence and messages in Chinese and English."""

from __future__ import annotations

import time
from collections.abc import Iterator

import orjson
import pytest
from harness import ThreadPlatform, thread_platform, wait_until
from lifecycle_scenario import RED, alert_units

from infra.settings import Settings
from infra.warehouse import thread_client
from models.rules import LifecycleRules
from sdk.producer import Producer

LIFECYCLE_RULES = {
    "unit.issued_unreleased",
    "unit.issued_reactive",
    "unit.released_reactive",
    "unit.issued_expired",
    "transfusion.abo_incompatible",
    "donation.interval",
    "donation.age",
    "donation.platelet_frequency",
    "component.volume_exceeds_donation",
    "unit.impossible_order",
    "unit.lost",
    "lookback.opened",
}


@pytest.fixture
def fast_timer_platform(settings: Settings) -> Iterator[ThreadPlatform]:
    """The platform (conftest settings) with the lost-unit timer looking every second."""
    fast = settings.model_copy(update={"lifecycle": LifecycleRules(lost_unit_check_seconds=1.0)})
    with thread_platform(fast) as handle:
        yield handle


def test_every_rule_raises_its_alert(fast_timer_platform: ThreadPlatform) -> None:
    platform = fast_timer_platform
    cases = alert_units()
    with Producer(platform.settings) as producer:
        outcomes = [producer.send(e) for events in cases.values() for e in events]
    assert all(o.accepted for o in outcomes)
    client = thread_client(platform.settings)

    def raised() -> dict[str, set[str]]:
        rows = client.query("select rule, din from alerts").result_rows
        found: dict[str, set[str]] = {}
        for rule, din in rows:
            found.setdefault(rule, set()).add(din)
        return found

    wait_until(lambda: set(cases) <= set(raised()), 45, what=f"alerts {sorted(cases)}")
    found = raised()
    # The unit each scenario built is the one its rule names.
    for rule, events in cases.items():
        dins = {e["payload"]["din"][:13] for e in events}
        assert found[rule] & dins, (rule, found[rule], dins)
    # No other lifecycle rule fired (other processors may raise their own rules).
    assert set(found) & LIFECYCLE_RULES == set(cases)

    transfused = {
        cases[r][0]["payload"]["din"][:13]
        for r in ("transfusion.abo_incompatible", "unit.issued_expired", "unit.impossible_order")
    }
    assert not (found["unit.lost"] & transfused)
    lost = client.query(
        "select din, product_code, evidence, message_zh from alerts where rule = 'unit.lost' "
        "and din = {d:String}",
        parameters={"d": cases["unit.lost"][0]["payload"]["din"][:13]},
    ).result_rows
    ((_, product, evidence, zh),) = lost
    assert product == RED and "过期" in zh
    assert orjson.loads(evidence)["expires_at"] == "2026-03-08T10:00:00Z"

    interval = client.query(
        "select evidence, donor_id, message_en from alerts where rule = 'donation.interval'"
    ).result_rows
    ((evidence, donor, en),) = interval
    assert orjson.loads(evidence)["gap_days"] == 60.0 and donor.startswith("ps_")
    assert "182" in en

    # The lost-unit timer keeps looking every second but raises each lost unit once.
    count = client.query("select count() from alerts where rule = 'unit.lost'").result_rows
    time.sleep(3)
    again = client.query("select count() from alerts where rule = 'unit.lost'").result_rows
    assert again == count
