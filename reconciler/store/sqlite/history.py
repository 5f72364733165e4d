"""History in the SQLite store: schema v4 (compact history, DESIGN §9), the migration of
older stores' history. (Writing and reading it is shared: ``sqlbase/historyrows.py``.)

Before v4 every history row kept a scope's whole record before and after (``history_scopes``,
~4 KB a row; a host change cascading to 8,000 orgs added 33 MB). From v4 an entry keeps
its distinct deltas once (``history_deltas``) and one small row per touched scope pointing
to its delta (``history_changes``); see :mod:`reconciler.store.history`. The migration
converts every old entry, one at a time and streaming its rows, so that each keeps its
meaning: the same scopes, and the same settings before and after.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from reconciler.store.sqlbase import ddl, historyrows, sql
from reconciler.store.sqlite.dialect import SQLITE, SQLITE_DDL

V4: tuple[str, ...] = (
    # A rowid table: a delta of a created scope (~1.5 KB) stays on its page. (In a WITHOUT
    # ROWID table whatever passes ~1 KB spills to an overflow page of its own, mostly empty.)
    """CREATE TABLE history_deltas (
        id         INTEGER PRIMARY KEY,
        history_id INTEGER NOT NULL REFERENCES history(id) ON DELETE CASCADE,
        n          INTEGER NOT NULL,
        delta      TEXT NOT NULL,
        UNIQUE (history_id, n)
    )""",
    *ddl.tables(SQLITE_DDL, "history_changes"),
)


def convert(conn: sqlite3.Connection, now: str) -> None:
    """Move every entry of ``history_scopes`` (v1 to v3) into the compact tables, then drop
    the old table. Runs inside the migration's write transaction."""
    del now
    exists = conn.execute(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'history_scopes'"
    ).fetchone()
    if exists is None:
        return

    @contextmanager
    def old_rows(hid: int) -> Iterator[sqlite3.Cursor]:
        yield conn.execute(SQLITE.sql(sql.V1_HISTORY_ROWS), (hid,))

    historyrows.convert_v1(conn, SQLITE, old_rows)
