"""A full sink batch on a ClickHouse server: its identity lookups must fit the server's HTTP
limits (a query parameter may hold at most 128 KiB, `http_max_field_value_size`; 5,000 UUIDs
are ~190 KiB). chDB has no such limit, so only the server shows it."""

from __future__ import annotations

import uuid

import pytest
from events_factory import donation

from infra.chserver import ChServer
from infra.settings import Settings
from infra.warehouse import connect, migrate
from streams.sinks.warehouse import load_direct

pytestmark = [pytest.mark.integration, pytest.mark.any_profile]


def test_a_batch_of_the_default_size_is_stored_once_on_a_server(chserver: ChServer) -> None:
    settings = Settings(warehouse_url=chserver.url, warehouse_database=f"b_{uuid.uuid4().hex[:10]}")
    batch = Settings().sink_batch_size
    events = [donation(i) for i in range(batch + 1000)]
    client = connect(settings)
    migrate(client)
    assert load_direct(client, events, batch_size=batch) == (len(events), 0)
    assert load_direct(client, events, batch_size=batch) == (0, 0)  # all known: none again
    [(count, unique)] = client.query("select count(), uniqExact(event_id) from events").result_rows
    assert (count, unique) == (len(events), len(events))
