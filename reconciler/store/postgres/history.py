"""History of the PostgreSQL store: the migration of v1's full-record history to compact
history (:mod:`reconciler.store.history`, the same rows as the SQLite store keeps; writing
and reading them is shared: ``sqlbase/historyrows.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from reconciler.store.postgres.dialect import POSTGRES
from reconciler.store.sqlbase import historyrows, sql

Conn = psycopg.Connection[Any]


def convert_v1(conn: Conn) -> None:
    """Move every entry of v1's ``history_scopes`` into the compact tables (one entry at a
    time, its rows streamed through a server-side cursor), then drop the old table; inside
    the migration transaction."""

    @contextmanager
    def old_rows(hid: int) -> Iterator[psycopg.Cursor[Any]]:
        with conn.cursor(name=f"mailctl_v1_history_{hid}") as cur:
            cur.execute(POSTGRES.sql(sql.V1_HISTORY_ROWS), (hid,))
            yield cur

    historyrows.convert_v1(conn, POSTGRES, old_rows)
