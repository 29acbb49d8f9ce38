"""A revocation takes effect on every worker within seconds (issue 15): two `bloodtrace serve`
workers of one deployment share the credentials in the warehouse; a credential revoked through
one worker is refused by the other once its cache (auth.cache_seconds) has expired.

Runs on a ClickHouse server whatever the session's profile: chDB cannot be shared by two
processes.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest
from harness import (
    ProcessPlatform,
    free_port,
    platform_settings,
    start_process_platform,
    wait_until,
)

from infra.chserver import ChServer
from infra.warehouse import connect

pytestmark = [pytest.mark.integration, pytest.mark.any_profile]


def _whoami(worker: ProcessPlatform, token: str) -> int:
    answer = httpx.get(
        f"{worker.url}/v1/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    return answer.status_code


def test_a_credential_revoked_on_one_worker_is_refused_by_the_other(
    tmp_path: Path, broker: str, chserver: ChServer
) -> None:
    (tmp_path / "w1").mkdir()
    (tmp_path / "w2").mkdir()
    first_settings = platform_settings(
        tmp_path / "w1",
        broker,
        warehouse_url=chserver.url,
        warehouse_database=f"rv_{uuid.uuid4().hex[:10]}",
    )
    second_settings = first_settings.model_copy(
        update={"data_dir": tmp_path / "w2", "api_port": free_port()}
    )
    connect(first_settings).close()  # creates the database the workers will migrate
    cache = first_settings.auth.cache_seconds
    first = start_process_platform(first_settings, "w1.log")
    second = None
    try:
        second = start_process_platform(second_settings, "w2.log")
        body = {"kind": "person", "name": "Dr Revoked", "role": "viewer"}
        made = httpx.post(f"{first.url}/v1/admin/credentials", json=body, timeout=30)
        assert made.status_code == 200, made.text
        token, credential = made.json()["token"], made.json()["id"]
        # Made on the first worker, known to the second (an unknown id is looked up at once).
        worker2 = second
        wait_until(lambda: _whoami(worker2, token) == 200, cache + 10, what="the new credential")

        revoked = httpx.post(f"{first.url}/v1/admin/credentials/{credential}/revoke", timeout=30)
        assert revoked.status_code == 200, revoked.text
        assert _whoami(first, token) == 401  # the worker that revoked it: at once
        started = time.monotonic()
        wait_until(lambda: _whoami(worker2, token) == 401, cache + 10, 0.2, "the revocation")
        took = time.monotonic() - started
        assert took <= cache + 2, f"the second worker took {took:.1f} s (cache {cache:g} s)"
    finally:
        for worker in (first, second):
            if worker is not None:
                worker.stop()
