"""Migrations for a ClickHouse cluster: the generated SQL (no cluster can run here)."""

from __future__ import annotations

import re

from infra.cluster_ddl import clustered
from infra.warehouse import _statements, cluster_statements, migrations

CLUSTER, DB = "bt", "bloodtrace"
EVENTS = """create table if not exists events
(
    event_id UUID,
    din String,
    occurred_at DateTime64(3, 'UTC'),
    payload String
)
engine = MergeTree
partition by toYYYYMM(occurred_at)
order by (din, occurred_at, event_id)
settings non_replicated_deduplication_window = 10000"""


def all_statements() -> list[str]:
    return [s for _, _, sql in migrations() for s in _statements(sql)]


def test_without_a_cluster_the_migrations_are_unchanged() -> None:
    statements = all_statements()
    assert cluster_statements(statements, None, DB) == statements
    assert cluster_statements(statements, "", DB) == statements
    assert not any("Replicated" in s or "Distributed" in s for s in statements)


def test_a_table_becomes_a_replicated_local_table_behind_a_distributed_one() -> None:
    local, front = clustered(EVENTS, CLUSTER, DB)
    assert local.startswith("create table if not exists bloodtrace.events_local on cluster 'bt'")
    assert "engine = ReplicatedMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}')" in local
    for kept in (
        "partition by toYYYYMM(occurred_at)",
        "order by (din, occurred_at, event_id)",
        "non_replicated_deduplication_window = 10000",
        "event_id UUID",
    ):
        assert kept in local
    assert front == (
        "create table if not exists bloodtrace.events on cluster 'bt' as bloodtrace.events_local\n"
        "engine = Distributed('bt', 'bloodtrace', 'events_local', cityHash64(din))"
    )


def test_replacing_engines_keep_their_version_and_shard_by_their_sort_key() -> None:
    sql = (
        "create table if not exists coldchain_excursions (excursion_id String, "
        "equipment_id String, started_at DateTime, version UInt64) "
        "engine = ReplacingMergeTree(version) order by (equipment_id, started_at, excursion_id)"
    )
    local, front = clustered(sql, CLUSTER, DB)
    assert (
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}', version)"
    ) in local
    # Rows the engine collapses must meet on one shard: the key is made of sort-key columns.
    assert front.endswith("cityHash64(equipment_id, started_at, excursion_id))")
    sql = (
        "create table if not exists inventory_outflows (event_id UUID, din String, "
        "product_code String, version UInt64) engine = ReplacingMergeTree(version) "
        "order by (event_id, din, product_code)"
    )
    assert clustered(sql, CLUSTER, DB)[1].endswith("cityHash64(din))")


def test_a_plain_table_without_din_shards_by_its_whole_sort_key() -> None:
    sql = (
        "create table if not exists rejected_events (rejected_at DateTime, reason String) "
        "engine = MergeTree order by (reason, rejected_at)"
    )
    assert clustered(sql, CLUSTER, DB)[1].endswith("cityHash64(reason, rejected_at))")


def test_the_log_audit_table_becomes_an_append_only_replicated_merge_tree() -> None:
    sql = "create table if not exists audit_log (at DateTime64(3), actor String) engine = Log"
    local, front = clustered(sql, CLUSTER, DB)
    assert local.endswith(
        "engine = ReplicatedMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}') order by at"
    )
    assert front.endswith("'audit_log_local', cityHash64(at))")


def test_views_feed_local_tables_from_local_tables() -> None:
    sql = (
        "create materialized view if not exists unit_lineage_issues to unit_lineage as\n"
        "select recipient_id as person_id, din from unit_issues where recipient_id != ''"
    )
    [view] = clustered(sql, CLUSTER, DB)
    assert view == (
        "create materialized view if not exists bloodtrace.unit_lineage_issues on cluster 'bt' "
        "to bloodtrace.unit_lineage_local as\n"
        "select recipient_id as person_id, din from bloodtrace.unit_issues_local "
        "where recipient_id != ''"
    )
    [other] = clustered(
        "create materialized view v to t as select * from system.numbers", CLUSTER, DB
    )
    assert "from system.numbers" in other


def test_alters_go_to_the_local_tables_and_column_changes_to_both() -> None:
    [projection] = clustered("alter table events materialize projection by_event_id", CLUSTER, DB)
    assert projection == (
        "alter table bloodtrace.events_local on cluster 'bt' materialize projection by_event_id"
    )
    local, front = clustered(
        "alter table coldchain_unit_flags add column if not exists withdrawn Bool default false",
        CLUSTER,
        DB,
    )
    assert local.startswith("alter table bloodtrace.coldchain_unit_flags_local on cluster 'bt'")
    assert front.startswith("alter table bloodtrace.coldchain_unit_flags on cluster 'bt' add")


def test_every_migration_rewrites_to_replicated_or_distributed_tables() -> None:
    statements = all_statements()
    out = cluster_statements(statements, CLUSTER, DB)
    creates = [s for s in statements if re.match(r"\s*create table", s, re.I)]
    assert sum("engine = Distributed(" in s for s in out) == len(creates) >= 30
    for statement in out:
        if re.match(r"\s*create table (if not exists )?\S+_local ", statement, re.I):
            assert "engine = Replicated" in statement, statement[:80]
        if re.match(r"\s*(create|alter)", statement, re.I):
            assert "on cluster 'bt'" in statement, statement[:80]
    # Back-fills run through the Distributed tables unchanged.
    assert [s for s in out if s.lstrip().lower().startswith("insert")] == [
        s for s in statements if s.lstrip().lower().startswith("insert")
    ]
