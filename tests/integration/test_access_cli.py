"""`bloodtrace users …` and `bloodtrace facilities …`, through the running platform and, with
none running, on the warehouse itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import ThreadPlatform, embedded_settings, settings_env, wait_until

from infra.settings import Settings

pytestmark = pytest.mark.integration


def cli(settings: Settings, *args: str, env: dict[str, str] | None = None) -> Any:
    out = subprocess.run(
        [sys.executable, "-m", "cli", *args, "--json"],
        env=settings_env(settings) | (env or {}),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)


def test_users_and_facilities_through_the_platform(platform: ThreadPlatform) -> None:
    viewer = cli(platform.settings, "users", "create", "Dr Li", "--role", "viewer")
    emitter = cli(platform.settings, "facilities", "create", "H03")
    assert viewer["role"] == "viewer" and viewer["token"].startswith("bt_")
    assert emitter["role"] == "emitter" and emitter["facility_id"] == "H03"
    listed = cli(platform.settings, "users", "list")
    assert viewer["id"] in {u["id"] for u in listed}
    assert all("token" not in u and "secret_hash" not in u for u in listed)
    assert [f["id"] for f in cli(platform.settings, "facilities", "list")] == [emitter["id"]]

    status = f"{platform.url}/v1/status"
    auth = {"Authorization": f"Bearer {viewer['token']}"}
    assert httpx.get(status, headers=auth, timeout=30).status_code == 200
    rotated = cli(platform.settings, "users", "rotate", viewer["id"])
    assert httpx.get(status, headers=auth, timeout=30).status_code == 401
    new_auth = {"Authorization": f"Bearer {rotated['token']}"}
    assert httpx.get(status, headers=new_auth, timeout=30).status_code == 200
    cli(platform.settings, "users", "revoke", viewer["id"])
    assert httpx.get(status, headers=new_auth, timeout=30).status_code == 401
    # Every administrative action is in the audit log, with the administrator's identity.
    from infra.warehouse import thread_client

    rows = (
        thread_client(platform.settings)
        .query("select actor, action from audit_log where action like 'credential.%' order by at")
        .result_rows
    )
    assert [a for _, a in rows] == [
        "credential.create",
        "credential.create",
        "credential.rotate",
        "credential.revoke",
    ]
    assert all("administrator" in actor for actor, _ in rows)


def test_users_on_the_warehouse_when_no_platform_runs(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path)
    made = cli(settings, "users", "create", "Officer Wang", "--role", "quality_officer")
    listed = cli(settings, "users", "list")
    assert [u["id"] for u in listed] == [made["id"]]
    cli(settings, "users", "revoke", made["id"])
    assert wait_until(lambda: cli(settings, "users", "list")[0]["revoked"], 10)


def test_a_wrong_role_is_a_clear_error(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "cli", "users", "create", "x", "--role", "emperor"],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    assert "No person role 'emperor'" in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_audit_verify_through_the_platform(platform: ThreadPlatform) -> None:
    cli(platform.settings, "users", "create", "Dr Zhao", "--role", "viewer")
    result = cli(platform.settings, "audit", "verify")
    assert result["ok"] and result["rows"] >= 1 and result["first_broken"] is None
