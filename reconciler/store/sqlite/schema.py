"""Store schema: DDL and migrations.

The schema version lives in ``PRAGMA user_version``; ``PRAGMA application_id`` marks the
file as a mailctl store. ``MIGRATIONS[i]`` takes a store from version ``i`` to ``i + 1``;
:func:`migrate` applies the missing ones in order inside the caller's write transaction.
Statements are executed one by one (``executescript`` would commit behind our back).
Append new migrations; never edit a released one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from reconciler.store.sqlbase import ddl, sql
from reconciler.store.sqlite import history, targetsync
from reconciler.store.sqlite.dialect import SQLITE_DDL

__all__ = ["APPLICATION_ID", "MIGRATIONS", "SCHEMA_VERSION", "migrate"]

APPLICATION_ID = 0x6D6C6374  # "mlct"

JOURNAL_SIZE_LIMIT = 16 * 1024 * 1024  # WAL is truncated back to this after a big apply

_V1 = ddl.tables(SQLITE_DDL, "meta", "scopes", "probes", "probe_log", "history", "history_scopes")


def _v1_seed(conn: sqlite3.Connection, now: str) -> None:
    conn.executemany(
        "INSERT INTO meta(key, value) VALUES (?, ?)",
        [
            (sql.META_CREATED_AT, now),
            (sql.META_SUSPENDED, "0"),
            (sql.META_CHANGE_COUNTER, "0"),
        ],
    )


# v2: what is held but has no applied record (a scope never applied, or a file that names
# no scope), so that ``status`` shows it. A scope leaves this table when it is applied.
_V2 = ddl.tables(SQLITE_DDL, "held")

Migration = tuple[Sequence[str], Callable[[sqlite3.Connection, str], None] | None]

MIGRATIONS: tuple[Migration, ...] = (
    (_V1, _v1_seed),
    (_V2, None),
    (targetsync.DDL, None),
    (history.V4, history.convert),
)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, from_version: int, now: str) -> None:
    """Apply migrations ``from_version .. SCHEMA_VERSION`` (caller holds the write txn)."""
    for statements, seed in MIGRATIONS[from_version:]:
        for statement in statements:
            conn.execute(statement)
        if seed is not None:
            seed(conn, now)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
