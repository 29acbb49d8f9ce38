"""dbt on a ClickHouse cluster: the materialisations and engines the project renders with and
without BLOODTRACE_WAREHOUSE_CLUSTER. dbt parses and compiles here without a warehouse
(nothing is introspected); no cluster can run here, so the DDL itself is dbt-clickhouse's."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from infra.dbt_runner import profile_env, run_dbt
from infra.settings import Settings

DEAD = "http://127.0.0.1:9"  # nothing answers: proves nothing needed the warehouse


def settings(tmp_path: Path, cluster: str | None) -> Settings:
    return Settings(data_dir=tmp_path, warehouse_url=DEAD, warehouse_cluster=cluster)


def materialisations(s: Settings) -> Counter[str]:
    assert run_dbt(s, ["parse"], quiet=True).success
    manifest = json.loads((s.data_path / "dbt" / "target" / "manifest.json").read_text())
    return Counter(
        n["config"]["materialized"]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model"
    )


def rendered(s: Settings, capfd: pytest.CaptureFixture[str], jinja: str) -> str:
    capfd.readouterr()
    args = ["compile", "--no-introspect", "--no-populate-cache", "--inline", jinja]
    assert run_dbt(s, args, quiet=True).success
    return capfd.readouterr().out.strip()


def test_on_a_cluster_tables_are_distributed_and_engines_replicated(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    s = settings(tmp_path, "bt")
    assert profile_env(s)["BLOODTRACE_DBT_CLUSTER"] == "bt"
    found = materialisations(s)
    assert found["distributed_table"] >= 20 and found["distributed_incremental"] == 4
    assert not found["table"] and not found["incremental"]
    out = rendered(
        s,
        capfd,
        "{{ bt_replicated_engine('ReplacingMergeTree(version)', 'distributed_incremental') }}"
        "|{{ bt_replicated_engine('MergeTree()', 'distributed_table') }}"
        "|{{ bt_replicated_engine('MergeTree()', 'seed') }}"
        "|{{ bt_replicated_engine('Memory', 'table') }}"
        "|{{ engine_clause() }}",  # the project's, not dbt-clickhouse's
    )
    assert out.splitlines()[-1] == (
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}', version)"
        "|ReplicatedMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}')"
        "|ReplicatedMergeTree('/clickhouse/tables/{uuid}/all', '{replica}')"
        "|Memory"
        "|engine = ReplicatedMergeTree('/clickhouse/tables/{uuid}/all', '{replica}')"
    )


def test_without_a_cluster_nothing_changes(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    s = settings(tmp_path, None)
    assert profile_env(s)["BLOODTRACE_DBT_CLUSTER"] == ""
    found = materialisations(s)
    assert found["table"] >= 20 and found["incremental"] == 4
    assert not found["distributed_table"] and not found["distributed_incremental"]
    out = rendered(s, capfd, "{{ bt_replicated_engine('ReplacingMergeTree(version)', 'table') }}")
    assert out.splitlines()[-1] == "ReplacingMergeTree(version)"


def test_a_cluster_needs_a_server(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs a ClickHouse server URL"):
        Settings(data_dir=tmp_path, warehouse_cluster="bt")
