"""History of the PostgreSQL store: the reads (inside the caller's read transaction) and the
migration of v1's full-record history to compact history (:mod:`reconciler.store.history`,
the same deltas as the SQLite store keeps)."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from reconciler.errors import StoreError
from reconciler.model import host_first
from reconciler.store.history import Compactor, ScopeDelta, expand
from reconciler.store.postgres.dialect import POSTGRES
from reconciler.store.records import HistoryChange, HistoryEntry, ScopeRecord
from reconciler.store.sqlbase import sql
from reconciler.store.sqlbase.codec import gc_paused

Conn = psycopg.Connection[Any]


def entries(
    conn: Conn, scope: str | None, limit: int | None, with_scopes: bool = True
) -> list[HistoryEntry]:
    """Newest first; with ``scope`` only those touching it; ``limit=None``: all."""
    text, params = sql.SELECT_HISTORY, list[str | int | None]()
    if scope is not None:
        text += sql.HISTORY_OF_SCOPE
        params.append(scope)
    text += sql.NEWEST_FIRST
    params.append(None if limit is None else max(limit, 0))
    rows = conn.execute(POSTGRES.sql(text), params).fetchall()
    if not rows:
        return []
    touched: dict[int, list[str]] = {row[0]: [] for row in rows}
    if with_scopes:
        for hid, name in conn.execute(
            POSTGRES.sql(sql.HISTORY_TOUCHED), (list(touched),)
        ).fetchall():
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


def changes(conn: Conn, history_id: int) -> list[ScopeDelta]:
    """Per touched scope (host first), what the entry changed; StoreError if unknown."""
    if conn.execute("SELECT 1 FROM history WHERE id = %s", (history_id,)).fetchone() is None:
        raise StoreError(
            f"no history entry {history_id}",
            hint="`mailctl history` lists the ids (older entries are not kept)",
        )
    deltas = {
        n: json.loads(text)
        for n, text in conn.execute(
            "SELECT n, delta FROM history_deltas WHERE history_id = %s", (history_id,)
        ).fetchall()
    }
    rows = conn.execute(
        "SELECT scope, delta, file FROM history_changes WHERE history_id = %s", (history_id,)
    ).fetchall()
    with gc_paused():
        out = [expand(scope, deltas[n], file) for scope, n, file in rows]
    out.sort(key=lambda d: host_first(d.scope))
    return out


def change(conn: Conn, history_id: int, scope: str) -> ScopeDelta | None:
    """What entry ``history_id`` changed for ``scope`` alone (``None``: not touched)."""
    row = conn.execute(
        "SELECT d.delta, c.file FROM history_changes AS c JOIN history_deltas AS d"
        " ON d.history_id = c.history_id AND d.n = c.delta"
        " WHERE c.history_id = %s AND c.scope = %s",
        (history_id, scope),
    ).fetchone()
    return None if row is None else expand(scope, json.loads(row[0]), row[1])


def _record(text: str | None) -> ScopeRecord | None:
    return None if text is None else ScopeRecord.from_dict(json.loads(text))


def convert_v1(conn: Conn) -> None:
    """Move every entry of v1's ``history_scopes`` into the compact tables (one entry at a
    time, its rows streamed), then drop the old table; inside the migration transaction."""
    ids = [row[0] for row in conn.execute("SELECT id FROM history ORDER BY id").fetchall()]
    for hid in ids:
        builder = Compactor()
        batch: list[tuple[int, str, int, str | None]] = []
        with conn.cursor(name=f"mailctl_v1_history_{hid}") as cur:
            cur.execute(
                "SELECT scope, before, after FROM history_scopes WHERE history_id = %s"
                " ORDER BY scope",
                (hid,),
            )
            for scope, before, after in cur:
                row = builder.add(HistoryChange(scope, _record(before), _record(after)))
                if row is not None:
                    batch.append((hid, *row))
        with conn.cursor() as out:
            if batch:
                out.executemany(POSTGRES.sql(sql.INSERT_CHANGE), batch)
            if builder.deltas:
                out.executemany(
                    POSTGRES.sql(sql.INSERT_DELTA),
                    [(hid, n, d) for n, d in enumerate(builder.deltas)],
                )
    conn.execute("DROP TABLE history_scopes")
