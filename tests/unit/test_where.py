"""infra.where: optional filters become conditions with bound parameters."""

from datetime import UTC, datetime

from infra.where import Where


def test_no_filter_given_selects_every_row() -> None:
    where = Where(params={"limit": 5}).equal("din", None).equal("rule", "").since("at", None)
    assert where.sql == "1"
    assert where.params == {"limit": 5}


def test_each_given_filter_is_a_bound_condition_under_its_name() -> None:
    moment = datetime(2026, 3, 1, tzinfo=UTC)
    where = (
        Where(["run_id = {run_id:String}"], {"run_id": "r1"})
        .equal("check_name", "abo", name="check")
        .equal("din", None)
        .since("occurred_at", moment, kind="DateTime64(3)")
        .until("started_at", moment)
    )
    assert where.sql == (
        "run_id = {run_id:String} and check_name = {check:String} and "
        "occurred_at >= {since:DateTime64(3)} and started_at < {until:DateTime64(3, 'UTC')}"
    )
    assert where.params == {"run_id": "r1", "check": "abo", "since": moment, "until": moment}
