"""The platform installs as a plain (non-editable) wheel and the SDK installs alone.

Each test makes a fresh virtual environment with uv, from the pinned versions in uv's cache
(offline), outside the repository so that nothing is imported from the source tree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from events_factory import donation
from harness import ThreadPlatform

from infra.warehouse import thread_client

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).parent / "uv"


def fresh_venv(where: Path, *requirements: str) -> Path:
    """A new venv at ``where`` with ``requirements`` installed (non-editable); its python."""
    subprocess.run(
        [str(UV), "venv", "-q", "--python", sys.executable, str(where)], check=True, timeout=120
    )
    python = where / "bin" / "python"
    install = [str(UV), "pip", "install", "-q", "--offline", "--python", str(python)]
    subprocess.run(
        [*install, "-c", str(ROOT / "constraints.txt"), *requirements],
        check=True,
        timeout=600,
        cwd=where,
    )
    return python


def bare_env(**values: str) -> dict[str, str]:
    """The environment without the parent's BLOODTRACE_* settings or PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BLOODTRACE_", "PYTHON"))}
    return env | values


# Its own embedded chDB whatever --warehouse says: one pass of `make test` is enough.
@pytest.mark.any_profile
def test_a_wheel_install_runs_the_cli_and_finds_its_dbt_project(tmp_path: Path) -> None:
    python = fresh_venv(tmp_path / "venv", str(ROOT))
    bloodtrace = python.parent / "bloodtrace"
    env = bare_env(BLOODTRACE_DATA_DIR=str(tmp_path / "data"))

    shown = subprocess.run(
        [str(bloodtrace), "--help"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert shown.returncode == 0, shown.stderr
    assert "Usage: bloodtrace" in shown.stdout

    debug = subprocess.run(
        [str(bloodtrace), "dbt", "debug"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert debug.returncode == 0, debug.stdout + debug.stderr
    assert "All checks passed" in debug.stdout
    # The project it ran is the wheel's package data, not the repository's dbt/.
    project = subprocess.run(
        [str(python), "-c", "from infra.dbt_runner import PROJECT_DIR; print(PROJECT_DIR)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    ).stdout.strip()
    assert Path(project).is_relative_to(tmp_path / "venv"), project
    assert (Path(project) / "dbt_project.yml").is_file()


SEND = """
import json, sys
from sdk.producer import Producer
with Producer.from_settings() as producer:
    outcome = producer.send(json.loads(sys.stdin.read()))
print(json.dumps({"accepted": outcome.accepted, "reason": outcome.reason}))
"""


def test_the_sdk_installs_alone_and_sends_to_a_running_platform(
    tmp_path: Path, platform: ThreadPlatform
) -> None:
    python = fresh_venv(tmp_path / "venv", str(ROOT / "sdk"))
    station = tmp_path / "station"  # an empty working directory (the platform's is tmp_path)
    station.mkdir()
    env = bare_env(
        BLOODTRACE_BROKER_URL=platform.settings.bootstrap_servers,
        BLOODTRACE_PSEUDONYM_KEY=platform.settings.pseudonym_secret().decode(),
        BLOODTRACE_TOPIC_PREFIX=platform.settings.topic_prefix,
    )
    # Only the SDK and the event contracts: none of the platform's packages or dependencies.
    for absent in ("infra", "streams", "api", "faust", "clickhouse_connect"):
        probe = subprocess.run(
            [str(python), "-c", f"import {absent}; print({absent}.__file__)"],
            env=env,
            cwd=station,
            capture_output=True,
            text=True,
        )
        assert probe.returncode != 0, f"{absent} is importable: {probe.stdout}"

    event = donation(7)
    sent = subprocess.run(
        [str(python), "-c", SEND],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        env=env,
        cwd=station,
        timeout=120,
    )
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout.strip().splitlines()[-1]) == {"accepted": True, "reason": None}
    platform.wait_accepted(1)
    client = thread_client(platform.settings)
    assert client.query("select count() from donations").result_rows[0][0] == 1
