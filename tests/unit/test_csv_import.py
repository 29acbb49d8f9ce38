from __future__ import annotations

import orjson
from events_factory import donation

from cli.producers import csv_row_to_event
from models.validation import parse_event


def test_a_csv_row_becomes_a_valid_event() -> None:
    event = donation(3)
    row = {k: str(v) for k, v in event.items() if k != "payload"}
    row.update(
        {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in event["payload"].items()}
    )
    row["note"] = ""
    parsed = parse_event(orjson.dumps(csv_row_to_event(row)))
    assert parsed.payload.volume_ml == 400  # type: ignore[attr-defined]
    assert parsed.payload.first_time is True  # type: ignore[attr-defined]


def test_json_cells_are_parsed() -> None:
    event = csv_row_to_event({"type": "test.result_recorded", "results": '[{"marker": "ALT"}]'})
    assert event["payload"]["results"] == [{"marker": "ALT"}]
