"""Compact history (:mod:`reconciler.store.history`, DESIGN §9) in the SQL backends' tables:
an entry in ``history``, its distinct deltas once in ``history_deltas``, one row per
touched scope in ``history_changes``. Written inside the caller's write transaction."""

from __future__ import annotations

from reconciler.store.history import EntryRows
from reconciler.store.sqlbase import sql
from reconciler.store.sqlbase.dialect import Conn, Dialect


def write(conn: Conn, d: Dialect, entry: EntryRows, fields: tuple[str, str, str, str, str]) -> int:
    """Insert an entry (``fields``: revision, at, actor, kind, summary) and its rows; its id."""
    (row,) = conn.execute(d.sql(sql.INSERT_HISTORY), fields).fetchall()  # steps to the end
    hid = int(row[0])
    d.execute_many(conn, sql.INSERT_DELTA, delta_rows(d, hid, entry.deltas))
    d.execute_many(conn, sql.INSERT_CHANGE, [(hid, *r) for r in entry.scopes])
    return hid


def delta_rows(d: Dialect, hid: int, deltas: list[str]) -> list[tuple[int, int, str | bytes]]:
    return [(hid, n, d.pack_delta(text)) for n, text in enumerate(deltas)]
