"""The ClickHouse 26.9 HTTP server from chdb-core: starts, answers, keeps data over a restart."""

from __future__ import annotations

from pathlib import Path

import clickhouse_connect
import pytest
from harness import free_port

from infra.chserver import ChServer, ServerStartFailed

pytestmark = [pytest.mark.integration, pytest.mark.any_profile]


def test_server_keeps_data_across_a_restart(tmp_path: Path) -> None:
    with ChServer(tmp_path / "ch", free_port(), free_port()) as server:
        client = clickhouse_connect.get_client(dsn=server.url)
        assert client.server_version is not None
        assert client.server_version.startswith("26.9")
        client.command("create database if not exists d")
        client.command(
            "create table d.t (x UInt32) engine = MergeTree order by x "
            "settings non_replicated_deduplication_window = 100"
        )
        for _ in range(3):  # a retried block with one token is stored once
            client.insert("d.t", [[1], [2]], settings={"insert_deduplication_token": "b1"})
        pid = server.proc.pid if server.proc else None
        server.restart()
        assert server.proc is not None and server.proc.pid != pid
        client = clickhouse_connect.get_client(dsn=server.url)
        assert client.query("select count() from d.t").result_rows == [(2,)]
    assert not server.answers()


def test_a_refused_server_is_a_clear_error(tmp_path: Path) -> None:
    """A port already taken is named in a clear error before any child starts, not a timeout."""
    with ChServer(tmp_path / "a", free_port(), free_port()) as first:
        second = ChServer(tmp_path / "b", free_port(), first.tcp_port)
        with pytest.raises(ServerStartFailed) as caught:
            second.start(timeout=30)
        assert f"Port {first.tcp_port}" in caught.value.message
        assert not second.running
