"""The sink's identity lookups on a ClickHouse server: a batch of thousands of ids fits the
server's limit on a query parameter (128 KiB), and a second load of the same events writes
nothing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from events_factory import donation

from infra.chserver import ChServer
from infra.settings import Settings
from infra.warehouse import connect, migrate
from streams.sinks.warehouse import load_direct

pytestmark = [pytest.mark.integration, pytest.mark.any_profile]


def test_a_large_batch_is_looked_up_and_stored_once_on_a_server(
    chserver: ChServer, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        warehouse_url=chserver.url,
        warehouse_database=f"t_{uuid.uuid4().hex[:10]}",
        pseudonym_key="test-key",
    )
    client = connect(settings)
    migrate(client)
    events = [donation(i) for i in range(6000)]
    assert load_direct(client, events, batch_size=6000) == (6000, 0)
    assert load_direct(client, events, batch_size=6000) == (0, 0)
    counts = client.query("select count(), uniqExact(event_id) from events").result_rows[0]
    assert tuple(counts) == (6000, 6000)
