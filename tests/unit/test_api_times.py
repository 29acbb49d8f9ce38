"""Times given to the API are refused at the edge when the warehouse cannot hold them (the
fuzz run found year 0437 answered 500 by the warehouse's query parser)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from api.routes.inventory import EARLIEST, LATEST, utc
from infra.errors import InvalidParameter


def test_a_time_without_a_zone_is_utc_and_one_with_a_zone_is_kept() -> None:
    assert utc(None) is None
    assert utc(datetime(2025, 6, 1, 8)) == datetime(2025, 6, 1, 8, tzinfo=UTC)
    east = timezone(timedelta(hours=8))
    assert utc(datetime(2025, 6, 1, 8, tzinfo=east)) == datetime(2025, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize("moment", [datetime(437, 1, 18), datetime(2300, 1, 1), datetime(1, 1, 1)])
def test_a_time_outside_the_warehouse_range_is_a_422_naming_the_parameter(
    moment: datetime,
) -> None:
    with pytest.raises(InvalidParameter) as caught:
        utc(moment, "until")
    assert caught.value.http_status == 422
    assert caught.value.message.startswith("until=")


def test_the_range_ends_are_accepted() -> None:
    assert utc(EARLIEST) == EARLIEST and utc(LATEST) == LATEST
