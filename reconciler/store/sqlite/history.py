"""History in the SQLite store: schema v4 (compact history, DESIGN §9), the migration of
older stores' history, and the reads.

Before v4 every history row kept a scope's whole record before and after (``history_scopes``,
~4 KB a row; a host change cascading to 8,000 orgs added 33 MB). From v4 an entry keeps
its distinct deltas once (``history_deltas``) and one small row per touched scope pointing
to its delta (``history_changes``); see :mod:`reconciler.store.history`. The migration
converts every old entry, one at a time and streaming its rows, so that each keeps its
meaning: the same scopes, and the same settings before and after.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterator
from typing import Any

from reconciler.model import host_first
from reconciler.store.history import Compactor, ScopeDelta, expand
from reconciler.store.records import HistoryChange, HistoryEntry, ScopeRecord
from reconciler.store.sqlbase.codec import gc_paused
from reconciler.store.sqlite.dialect import pack

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
    """CREATE TABLE history_changes (
        history_id INTEGER NOT NULL REFERENCES history(id) ON DELETE CASCADE,
        scope      TEXT NOT NULL,
        delta      INTEGER NOT NULL,
        file       TEXT,
        PRIMARY KEY (history_id, scope)
    ) WITHOUT ROWID""",
    "CREATE INDEX history_changes_scope ON history_changes(scope, history_id)",
)

INSERT_DELTA = "INSERT INTO history_deltas (history_id, n, delta) VALUES (?, ?, ?)"


def unpack(value: str | bytes) -> Any:
    return json.loads(zlib.decompress(value) if isinstance(value, bytes) else value)


def delta_rows(hid: int, deltas: list[str]) -> list[tuple[int, int, str | bytes]]:
    return [(hid, n, pack(d)) for n, d in enumerate(deltas)]


INSERT_CHANGE = "INSERT INTO history_changes (history_id, scope, delta, file) VALUES (?, ?, ?, ?)"
_BATCH = 5000


def _record(text: str | None) -> ScopeRecord | None:
    return None if text is None else ScopeRecord.from_dict(json.loads(text))


def _old_changes(conn: sqlite3.Connection, hid: int) -> Iterator[HistoryChange]:
    cur = conn.execute(
        "SELECT scope, before, after FROM history_scopes WHERE history_id = ? ORDER BY scope",
        (hid,),
    )
    for scope, before, after in cur:
        yield HistoryChange(scope, _record(before), _record(after))


def convert(conn: sqlite3.Connection, now: str) -> None:
    """Move every entry of ``history_scopes`` (v1 to v3) into the compact tables, then drop
    the old table. Runs inside the migration's write transaction."""
    del now
    exists = conn.execute(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'history_scopes'"
    ).fetchone()
    if exists is None:
        return
    ids = [row[0] for row in conn.execute("SELECT id FROM history ORDER BY id")]
    for hid in ids:
        builder = Compactor()
        batch: list[tuple[int, str, int, str | None]] = []
        for change in _old_changes(conn, hid):
            row = builder.add(change)
            if row is None:
                continue
            batch.append((hid, *row))
            if len(batch) >= _BATCH:
                conn.executemany(INSERT_CHANGE, batch)
                batch.clear()
        conn.executemany(INSERT_CHANGE, batch)
        conn.executemany(INSERT_DELTA, delta_rows(hid, builder.deltas))
    conn.execute("DROP TABLE history_scopes")


# ---------------------------------------------------------------------------- reads

_SELECT_ENTRIES = "SELECT id, revision, at, actor, kind, summary FROM history"


def read_entries(
    conn: sqlite3.Connection, scope: str | None, limit: int | None, with_scopes: bool
) -> list[HistoryEntry]:
    sql = _SELECT_ENTRIES
    params: list[Any] = []
    if scope is not None:
        sql += " WHERE id IN (SELECT history_id FROM history_changes WHERE scope = ?)"
        params.append(scope)
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(-1 if limit is None else max(limit, 0))
    rows = conn.execute(sql, params).fetchall()
    touched: dict[int, list[str]] = {row[0]: [] for row in rows}
    if rows and with_scopes:
        for hid, name in conn.execute(
            "SELECT history_id, scope FROM history_changes"
            " WHERE history_id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(touched)),),
        ):
            touched[hid].append(name)
    return [
        HistoryEntry(
            id=hid,
            revision=revision,
            at=at,
            actor=actor,
            kind=kind,
            summary=summary,
            scopes=tuple(sorted(touched[hid], key=host_first)),
        )
        for hid, revision, at, actor, kind, summary in rows
    ]


def read_changes(conn: sqlite3.Connection, history_id: int) -> list[ScopeDelta] | None:
    """The entry's deltas, host first; ``None`` if there is no such entry."""
    if conn.execute("SELECT 1 FROM history WHERE id = ?", (history_id,)).fetchone() is None:
        return None
    deltas = {
        n: unpack(text)
        for n, text in conn.execute(
            "SELECT n, delta FROM history_deltas WHERE history_id = ?", (history_id,)
        )
    }
    rows = conn.execute(
        "SELECT scope, delta, file FROM history_changes WHERE history_id = ?", (history_id,)
    ).fetchall()
    with gc_paused():
        out = [expand(scope, deltas[n], file) for scope, n, file in rows]
    out.sort(key=lambda d: host_first(d.scope))
    return out


def read_change(conn: sqlite3.Connection, history_id: int, scope: str) -> ScopeDelta | None:
    """What entry ``history_id`` changed in ``scope`` (``None``: not touched, or no entry):
    one row and its delta, however many scopes the entry touched."""
    row = conn.execute(
        "SELECT d.delta, c.file FROM history_changes AS c JOIN history_deltas AS d"
        " ON d.history_id = c.history_id AND d.n = c.delta"
        " WHERE c.history_id = ? AND c.scope = ?",
        (history_id, scope),
    ).fetchone()
    return None if row is None else expand(scope, unpack(row[0]), row[1])
