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

from reconciler.store.sqlbase import sql
from reconciler.store.sqlite import history, targetsync

__all__ = ["APPLICATION_ID", "MIGRATIONS", "SCHEMA_VERSION", "migrate"]

APPLICATION_ID = 0x6D6C6374  # "mlct"

JOURNAL_SIZE_LIMIT = 16 * 1024 * 1024  # WAL is truncated back to this after a big apply

_V1: tuple[str, ...] = (
    """CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT
    ) WITHOUT ROWID""",
    """CREATE TABLE scopes (
        scope                   TEXT PRIMARY KEY
                                CHECK (scope = 'host' OR scope LIKE 'org/_%'),
        mode                    TEXT NOT NULL CHECK (mode IN ('default', 'custom')),
        spec                    TEXT NOT NULL,
        effective               TEXT NOT NULL,
        sources                 TEXT NOT NULL,
        fingerprint             TEXT,
        source_file             TEXT,
        last_applied_revision   TEXT,
        last_applied_at         TEXT,
        last_attempted_revision TEXT,
        last_attempted_at       TEXT,
        conditions              TEXT NOT NULL
    )""",
    """CREATE TABLE probes (
        scope  TEXT PRIMARY KEY REFERENCES scopes(scope) ON DELETE CASCADE,
        result TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE probe_log (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        scope  TEXT NOT NULL REFERENCES scopes(scope) ON DELETE CASCADE,
        result TEXT NOT NULL
    )""",
    "CREATE INDEX probe_log_scope ON probe_log(scope, id)",
    """CREATE TABLE history (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        revision TEXT NOT NULL,
        at       TEXT NOT NULL,
        actor    TEXT NOT NULL,
        kind     TEXT NOT NULL CHECK (kind IN ('apply', 'rollback')),
        summary  TEXT NOT NULL
    )""",
    """CREATE TABLE history_scopes (
        history_id INTEGER NOT NULL REFERENCES history(id) ON DELETE CASCADE,
        scope      TEXT NOT NULL,
        before     TEXT,
        after      TEXT,
        PRIMARY KEY (history_id, scope)
    )""",
    "CREATE INDEX history_scopes_scope ON history_scopes(scope, history_id)",
)


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
_V2: tuple[str, ...] = (
    """CREATE TABLE held (
        name        TEXT PRIMARY KEY,
        kind        TEXT NOT NULL CHECK (kind IN ('scope', 'file')),
        reason      TEXT NOT NULL,
        message     TEXT NOT NULL,
        source_file TEXT,
        revision    TEXT,
        at          TEXT NOT NULL
    ) WITHOUT ROWID""",
)

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
