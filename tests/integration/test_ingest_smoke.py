"""Events sent through the SDK reach the warehouse: each table gets the rows it should."""

from __future__ import annotations

from events_factory import donation
from harness import ThreadPlatform

from infra.warehouse import thread_client
from sdk.producer import Producer


def test_sdk_events_reach_the_warehouse(platform: ThreadPlatform) -> None:
    with Producer(platform.settings) as producer:
        outcomes = [producer.send(donation(i)) for i in range(20)]
    assert all(o.accepted for o in outcomes)
    platform.wait_accepted(20)
    client = thread_client(platform.settings)
    assert client.query("select count() from events").result_rows[0][0] == 20
    assert client.query("select count() from donations").result_rows[0][0] == 20
    dins = {r[0] for r in client.query("select din from donations").result_rows}
    assert len(dins) == 20 and all(len(d) == 13 for d in dins)
