"""The shared table definitions (reconciler/store/sqlbase/ddl.py): each backend's released
migrations still run exactly the DDL they ran when released, and a store made by them has
every column the shared SQL names."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from reconciler.store import open_store
from reconciler.store.postgres import schema as pg_schema
from reconciler.store.sqlbase import ddl
from reconciler.store.sqlbase.codec import HELD_COLUMNS, SCOPE_COLUMNS
from reconciler.store.sqlite import schema as sqlite_schema
from reconciler.store.sqlite.dialect import SQLITE_DDL

# sha256 (first 16 hex digits) of each released migration's statements, as JSON. A change
# here means a released migration now creates something else: append a new one instead.
RELEASED = {
    "sqlite": ["3c80b7d107ae510b", "c4b3577d1397992b", "360bc6f0b3118886", "c657ab3fc7db3f32"],
    "postgres": ["3f420278d1db3671", "7ca1967815054381", "0e8fd73d1213b23a"],
}


Migrations = Sequence[tuple[Sequence[str], object]]


def digests(migrations: Migrations) -> list[str]:
    texts = [json.dumps(list(statements)).encode() for statements, _ in migrations]
    return [hashlib.sha256(t).hexdigest()[:16] for t in texts]


@pytest.mark.parametrize(
    ("backend", "migrations"),
    [("sqlite", sqlite_schema.MIGRATIONS), ("postgres", pg_schema.MIGRATIONS)],
)
def test_released_migrations_run_the_ddl_they_were_released_with(
    backend: str, migrations: Migrations
) -> None:
    released = RELEASED[backend]
    assert digests(migrations)[: len(released)] == released


def test_a_new_store_has_the_columns_the_shared_sql_names(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.db"):
        pass
    conn = sqlite3.connect(tmp_path / "s.db")
    try:
        columns = {
            table: tuple(r[1] for r in conn.execute(f"PRAGMA table_info({table})"))
            for table in ("scopes", "held")
        }
    finally:
        conn.close()
    assert columns == {"scopes": SCOPE_COLUMNS, "held": HELD_COLUMNS}


def test_words_fill_every_placeholder() -> None:
    text = ddl.create("history_changes", SQLITE_DDL)
    assert "{" not in text and text.endswith(") WITHOUT ROWID")
    with pytest.raises(KeyError):
        ddl.create("no_such_table", SQLITE_DDL)
