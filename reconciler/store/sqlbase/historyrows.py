"""Compact history (:mod:`reconciler.store.history`, DESIGN §9) in the SQL backends' tables:
an entry in ``history``, its distinct deltas once in ``history_deltas``, one row per
touched scope in ``history_changes``. Written inside the caller's write transaction; read
inside its read transaction; and v1's full-record ``history_scopes`` converted."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any

from reconciler.errors import StoreError
from reconciler.model import host_first
from reconciler.store.history import Compactor, EntryRows, ScopeDelta, expand
from reconciler.store.records import HistoryChange, HistoryEntry, ScopeRecord
from reconciler.store.sqlbase import sql
from reconciler.store.sqlbase.codec import gc_paused, unpack_delta
from reconciler.store.sqlbase.dialect import Conn, Dialect

_BATCH = 5000  # history_changes rows inserted at once by the conversion


def write(conn: Conn, d: Dialect, entry: EntryRows, fields: tuple[str, str, str, str, str]) -> int:
    """Insert an entry (``fields``: revision, at, actor, kind, summary) and its rows; its id."""
    (row,) = conn.execute(d.sql(sql.INSERT_HISTORY), fields).fetchall()  # steps to the end
    hid = int(row[0])
    d.execute_many(conn, sql.INSERT_DELTA, delta_rows(d, hid, entry.deltas))
    d.execute_many(conn, sql.INSERT_CHANGE, [(hid, *r) for r in entry.scopes])
    return hid


def delta_rows(d: Dialect, hid: int, deltas: list[str]) -> list[tuple[int, int, str | bytes]]:
    return [(hid, n, d.pack_delta(text)) for n, text in enumerate(deltas)]


def entries(
    conn: Conn, d: Dialect, scope: str | None, limit: int | None, with_scopes: bool
) -> list[HistoryEntry]:
    """Newest first; with ``scope`` only those touching it; ``limit=None``: all."""
    text, params = sql.SELECT_HISTORY, list[Any]()
    if scope is not None:
        text += sql.HISTORY_OF_SCOPE
        params.append(scope)
    params.append(d.no_limit if limit is None else max(limit, 0))
    rows = conn.execute(d.sql(text + sql.NEWEST_FIRST), params).fetchall()
    touched: dict[int, list[str]] = {row[0]: [] for row in rows}
    if rows and with_scopes:
        ids = d.bind_list(list(touched))
        for hid, name in conn.execute(d.sql(sql.HISTORY_TOUCHED), (ids,)).fetchall():
            touched[hid].append(name)
    return [HistoryEntry(*(*row, tuple(sorted(touched[row[0]], key=host_first)))) for row in rows]


def changes(conn: Conn, d: Dialect, history_id: int) -> list[ScopeDelta]:
    """Per touched scope (host first), what the entry changed; StoreError if unknown."""
    if conn.execute(d.sql(sql.HISTORY_EXISTS), (history_id,)).fetchone() is None:
        raise StoreError(
            f"no history entry {history_id}",
            hint="`mailctl history` lists the ids (older entries are not kept)",
        )
    deltas = {
        n: unpack_delta(text)
        for n, text in conn.execute(d.sql(sql.HISTORY_DELTAS), (history_id,)).fetchall()
    }
    rows = conn.execute(d.sql(sql.HISTORY_CHANGES), (history_id,)).fetchall()
    with gc_paused():
        out = [expand(scope, deltas[n], file) for scope, n, file in rows]
    out.sort(key=lambda delta: host_first(delta.scope))
    return out


def change(conn: Conn, d: Dialect, history_id: int, scope: str) -> ScopeDelta | None:
    """What entry ``history_id`` changed in ``scope`` (``None``: not touched, or no entry):
    one row and its delta, however many scopes the entry touched."""
    row = conn.execute(d.sql(sql.HISTORY_CHANGE), (history_id, scope)).fetchone()
    return None if row is None else expand(scope, unpack_delta(row[0]), row[1])


OldRows = Callable[[int], AbstractContextManager[Iterable[Any]]]


def _record(text: str | None) -> ScopeRecord | None:
    return None if text is None else ScopeRecord.from_dict(json.loads(text))


def convert_v1(conn: Conn, d: Dialect, old_rows: OldRows) -> None:
    """Move every entry of v1's ``history_scopes`` into the compact tables, one entry at a
    time (``old_rows(id)``: its ``(scope, before, after)`` rows, streamed, by scope), then
    drop the old table. Each entry keeps its meaning: the same scopes, and the same
    settings before and after. Inside the migration's write transaction."""
    ids = [row[0] for row in conn.execute(d.sql(sql.V1_HISTORY_IDS)).fetchall()]
    for hid in ids:
        builder = Compactor()
        batch: list[tuple[int, str, int, str | None]] = []
        with old_rows(hid) as rows:
            for scope, before, after in rows:
                row = builder.add(HistoryChange(scope, _record(before), _record(after)))
                if row is not None:
                    batch.append((hid, *row))
                if len(batch) >= _BATCH:
                    d.execute_many(conn, sql.INSERT_CHANGE, batch)
                    batch.clear()
        if batch:
            d.execute_many(conn, sql.INSERT_CHANGE, batch)
        if builder.deltas:
            d.execute_many(conn, sql.INSERT_DELTA, delta_rows(d, hid, builder.deltas))
    conn.execute("DROP TABLE history_scopes")
