"""The typed tables in the migrations match the event contracts."""

from __future__ import annotations

import re

from infra.tables import TABLES, typed_tables_ddl
from infra.warehouse import migrations

# Event types whose typed table came after 0002, each in its own migration.
LATER = {"lookback.acknowledged": "0400_supply_and_notices"}


def test_migration_0002_is_what_the_contracts_generate() -> None:
    sql = {name: text for _, name, text in migrations()}["0002_typed_tables"]
    assert typed_tables_ddl([t for t in TABLES if t not in LATER]) in sql


def test_every_event_type_has_a_table() -> None:
    sql = "\n".join(text for _, _, text in migrations())
    for spec in TABLES.values():
        assert re.search(rf"create table if not exists {spec.table}\b", sql), spec.table


def test_typed_tables_added_after_0002_are_in_their_migration() -> None:
    sql = {name: text for _, name, text in migrations()}
    for event_type, migration in LATER.items():
        assert typed_tables_ddl([event_type]) in sql[migration]
