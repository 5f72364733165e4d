"""The store's ``held`` table (schema v2): what is held but was never applied."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from reconciler.store import open_store
from reconciler.store.sqlite import SCHEMA_VERSION
from reconciler.store.sqlite import schema as store_schema


def _v1_store(path: Path) -> None:
    """A store as mailctl wrote it before v2: the v1 DDL and seed, user_version 1."""
    conn = sqlite3.connect(path, isolation_level=None)
    statements, seed = store_schema.MIGRATIONS[0]
    conn.execute("BEGIN IMMEDIATE")
    for statement in statements:
        conn.execute(statement)
    assert seed is not None
    seed(conn, "2024-01-01T00:00:00Z")
    conn.execute(
        "INSERT INTO scopes (scope, mode, spec, effective, sources, conditions)"
        " VALUES ('host', 'default', '{}', '{}', '{}', '{}')"
    )
    conn.execute(f"PRAGMA application_id = {store_schema.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("COMMIT")
    conn.close()


def test_a_v1_store_migrates_to_the_held_table_keeping_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _v1_store(path)
    with open_store(path) as st:
        assert set(st.scopes()) == {"host"}
        assert st.held() == []
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert SCHEMA_VERSION >= 2
    conn.close()
