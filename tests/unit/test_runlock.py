"""The data-directory lock: one holder, a named refusal, stale files from crashed runs ignored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra import runlock
from infra.errors import DataDirInUse
from infra.settings import Settings


def test_second_holder_is_refused_with_the_first_ones_pid_and_api(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, api_port=9123)
    lock = runlock.acquire(settings, "serve")
    with pytest.raises(DataDirInUse) as refused:
        runlock.acquire(settings, "migrate")
    assert "already running" in refused.value.message
    assert "pid " in refused.value.message and "http://127.0.0.1:9123" in refused.value.message
    assert runlock.holder(settings) is not None
    lock.release()
    assert runlock.holder(settings) is None and not runlock.lock_path(settings).exists()


def test_a_crashed_runs_file_is_stale_and_taken_over(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    path = runlock.lock_path(settings)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"pid": 999999, "command": "serve"}))  # nobody holds a lock on it
    assert runlock.holder(settings) is None
    with runlock.holding(settings, "dbt"):
        assert runlock.holder(settings)["command"] == "dbt"  # type: ignore[index]
