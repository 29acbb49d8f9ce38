"""The audit log is append-only: no code path in the platform may change or remove its rows,
and the warehouse engine refuses to (checked on a scratch database)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.settings import Settings
from infra.warehouse import connect, migrate

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".venv", ".git", "var", "node_modules", "target", "dbt_packages", "__pycache__"}
SUFFIXES = {".py", ".sql", ".sh", ".yml", ".yaml", ".toml", ".cfg", ".ini", ".json", ".md", ""}
TABLE = r"(?:`?\w+`?\.)?`?audit_log`?"
MUTATIONS = re.compile(
    r"|".join(
        [
            rf"alter\s+table\s+(?:if\s+exists\s+)?{TABLE}",
            rf"delete\s+from\s+{TABLE}",
            rf"truncate\s+(?:table\s+)?(?:if\s+exists\s+)?{TABLE}",
            rf"drop\s+(?:table\s+)?(?:if\s+exists\s+)?{TABLE}",
            rf"optimize\s+table\s+{TABLE}",
            rf"rename\s+table\s+{TABLE}",
            rf"exchange\s+tables\s+{TABLE}",
            rf"replace\s+table\s+{TABLE}",
            rf"create\s+or\s+replace\s+table\s+{TABLE}",
            rf"insert\s+into\s+{TABLE}\s+.*\bselect\b.*\bfrom\s+{TABLE}",
        ]
    ),
    re.IGNORECASE | re.DOTALL,
)


def _files() -> list[Path]:
    out = []
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if any(part in SKIP_DIRS or part.startswith(".") for part in parts):
            continue
        if path.is_file() and path.suffix in SUFFIXES and path != Path(__file__).resolve():
            out.append(path)
    return out


def test_no_code_path_alters_or_deletes_the_audit_log() -> None:
    offenders = []
    for path in _files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for statement in re.split(r";|\n\s*\n", text):
            if MUTATIONS.search(statement):
                offenders.append(f"{path.relative_to(ROOT)}: {statement.strip()[:120]}")
    assert offenders == []


def test_the_guard_would_catch_one() -> None:
    for sql in (
        "ALTER TABLE audit_log DELETE WHERE 1",
        "alter table bloodtrace.audit_log update actor = '' where 1",
        "delete from `audit_log` where actor = 'x'",
        "TRUNCATE TABLE audit_log",
        "drop table if exists audit_log",
        "optimize table audit_log final",
    ):
        assert MUTATIONS.search(sql), sql
    assert not MUTATIONS.search("insert into audit_log (at, actor) values (now(), 'x')")
    assert not MUTATIONS.search("select count() from audit_log")


@pytest.mark.integration
def test_the_engine_refuses_updates_and_deletes(warehouse_settings: Settings) -> None:
    client = connect(warehouse_settings)
    migrate(client)
    client.command(
        "insert into audit_log (at, request_id, actor, channel, client, action, subject, "
        "outcome, detail) values (now64(3), generateUUIDv4(), 'qa', 'cli', 'host', "
        "'trace.unit', 'G123426000001', 'ok', '')"
    )
    for statement in (
        "alter table audit_log delete where 1",
        "alter table audit_log update actor = 'someone else' where 1",
        "delete from audit_log where 1",
    ):
        with pytest.raises(Exception, match=r"(?i)not support|doesn't support|NOT_IMPLEMENTED"):
            client.command(statement)
    assert client.query("select actor from audit_log").result_rows == [("qa",)]


@pytest.mark.integration
def test_an_altered_audit_row_is_found_by_verify(warehouse_settings: Settings) -> None:
    from infra.audit import verify
    from streams.trace import Requester, record_audit

    client = connect(warehouse_settings)
    migrate(client)
    who = Requester("officer (quality_officer, abc123)", "http", "127.0.0.1")
    for n in range(4):
        record_audit(client, who, "trace.unit", f"G1234260000{n:02d}", "ok")
    intact = verify(client)
    assert intact.ok and intact.rows == 4 and intact.chains == 1

    # Someone with the warehouse's admin rights rewrites the table, changing one row.
    client.command("rename table audit_log to audit_log_original")
    client.command("create table audit_log as audit_log_original")
    client.command(
        "insert into audit_log select * replace (if(subject = 'G123426000002', "
        "'G123426000099', subject) as subject) from audit_log_original"
    )
    broken = verify(client)
    assert not broken.ok
    first = broken.broken[0]
    assert first["seq"] == 3 and "altered" in first["problem"]

    # A row slipped in without a link is found too.
    client.command(
        "insert into audit_log (at, request_id, actor, channel, client, action, subject, "
        "outcome, detail) values (now64(3), generateUUIDv4(), 'x', 'cli', 'h', 'trace.unit', "
        "'G123426000055', 'ok', '')"
    )
    assert any("without a chain link" in b["problem"] for b in verify(client).broken)
