"""History reads of the PostgreSQL store (inside the caller's read transaction)."""

from __future__ import annotations

from typing import Any

import psycopg

from reconciler.errors import StoreError
from reconciler.model import host_first
from reconciler.store.postgres import sql
from reconciler.store.records import HistoryChange, HistoryEntry
from reconciler.store.sqlite.codec import gc_paused, record_from_json

Conn = psycopg.Connection[Any]


def entries(conn: Conn, scope: str | None, limit: int | None) -> list[HistoryEntry]:
    """Newest first; with ``scope`` only those touching it; ``limit=None``: all."""
    text, params = sql.SELECT_HISTORY, list[str | int | None]()
    if scope is not None:
        text += sql.HISTORY_OF_SCOPE
        params.append(scope)
    text += " ORDER BY id DESC LIMIT %s"
    params.append(None if limit is None else max(limit, 0))
    rows = conn.execute(text, params).fetchall()
    if not rows:
        return []
    touched: dict[int, list[str]] = {row[0]: [] for row in rows}
    for hid, name in conn.execute(sql.HISTORY_TOUCHED, (list(touched),)).fetchall():
        touched[hid].append(name)
    return [
        HistoryEntry(
            id=row[0],
            revision=row[1],
            at=row[2],
            actor=row[3],
            kind=row[4],
            summary=row[5],
            scopes=tuple(sorted(touched[row[0]], key=host_first)),
        )
        for row in rows
    ]


def changes(conn: Conn, history_id: int) -> list[HistoryChange]:
    """Per touched scope (host first), its record before and after; StoreError if unknown."""
    if conn.execute("SELECT 1 FROM history WHERE id = %s", (history_id,)).fetchone() is None:
        raise StoreError(f"no history entry {history_id}", hint="`mailctl history` lists the ids")
    rows = conn.execute(
        "SELECT scope, before, after FROM history_scopes WHERE history_id = %s", (history_id,)
    ).fetchall()
    with gc_paused():
        out = [
            HistoryChange(scope, record_from_json(before), record_from_json(after))
            for scope, before, after in rows
        ]
    out.sort(key=lambda c: host_first(c.scope))
    return out


def change(conn: Conn, history_id: int, scope: str) -> HistoryChange | None:
    """What entry ``history_id`` changed for ``scope`` alone (``None``: not touched)."""
    row = conn.execute(
        "SELECT before, after FROM history_scopes WHERE history_id = %s AND scope = %s",
        (history_id, scope),
    ).fetchone()
    if row is None:
        return None
    return HistoryChange(scope, record_from_json(row[0]), record_from_json(row[1]))
