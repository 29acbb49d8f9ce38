"""Every event type lands in its typed table with the values it was sent with."""

from __future__ import annotations

from datetime import UTC, datetime

from events_factory import one_of_each

from infra.settings import Settings
from infra.tables import TABLES
from infra.warehouse import connect, migrate
from models.validation import parse_event
from streams.sinks.warehouse import load_direct


def test_each_type_round_trips(warehouse_settings: Settings) -> None:
    client = connect(warehouse_settings)
    migrate(client)
    events = one_of_each()
    assert load_direct(client, events) == (len(events), 0)
    for raw in events:
        event = parse_event(raw)
        spec = TABLES[event.type]  # type: ignore[attr-defined]
        rows = list(
            client.query(
                f"select * from {spec.table} where event_id = {{id:UUID}}",
                parameters={"id": event.event_id},
                column_oriented=False,
            ).named_results()
        )
        expected = len(getattr(event.payload, "results", [None]))  # type: ignore[attr-defined]
        assert len(rows) == expected, spec.table
        row = rows[0]
        assert row["occurred_at"].replace(tzinfo=None) == event.occurred_at.replace(tzinfo=None)
        for name, value in event.payload:  # type: ignore[attr-defined]
            if name == "results":
                assert [r["marker"] for r in rows] == [item.marker for item in value]
                continue
            stored = row[name]
            if isinstance(value, datetime):  # stored as naive UTC
                assert stored == value.astimezone(UTC).replace(tzinfo=None), (spec.table, name)
            elif value is None:
                assert stored in (None, ""), (spec.table, name)
            else:
                assert stored == value, (spec.table, name, stored, value)
    total = client.query("select count(), uniqExact(event_id) from events").result_rows[0]
    assert total == (len(events), len(events))
