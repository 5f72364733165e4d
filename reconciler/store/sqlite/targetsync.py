"""SQLite SQL of the targets' sync state (table ``target_sync``, schema v3).

One row per (target, scope): what the last successful sync wrote (partition, the
non-secret values, the secret's *fingerprint* — never a secret or a token) and how the
last attempt went. Rows are written after the settings commit, in their own small
transactions: a target failure never touches the applied settings.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable

from reconciler.store.records import dumps
from reconciler.store.syncstate import SyncState

DDL: tuple[str, ...] = (
    """CREATE TABLE target_sync (
        target  TEXT NOT NULL,
        scope   TEXT NOT NULL,
        state   TEXT NOT NULL,
        PRIMARY KEY (target, scope)
    ) WITHOUT ROWID""",
    "CREATE INDEX target_sync_scope ON target_sync(scope)",
)

_CHUNK = 500


def read(conn: sqlite3.Connection, scopes: Collection[str] | None) -> list[SyncState]:
    if scopes is None:
        rows = conn.execute("SELECT state FROM target_sync ORDER BY target, scope").fetchall()
        return [SyncState.from_dict(json.loads(r[0])) for r in rows]
    out: list[SyncState] = []
    names = sorted(scopes)
    for i in range(0, len(names), _CHUNK):
        part = names[i : i + _CHUNK]
        rows = conn.execute(
            f"SELECT state FROM target_sync WHERE scope IN ({', '.join('?' * len(part))})",
            part,
        ).fetchall()
        out.extend(SyncState.from_dict(json.loads(r[0])) for r in rows)
    return out


def put(conn: sqlite3.Connection, states: Iterable[SyncState]) -> None:
    conn.executemany(
        "INSERT INTO target_sync(target, scope, state) VALUES (?, ?, ?) "
        "ON CONFLICT(target, scope) DO UPDATE SET state = excluded.state",
        ((s.target, s.scope, dumps(s.to_dict())) for s in states),
    )


def drop(conn: sqlite3.Connection, keys: Iterable[tuple[str, str]]) -> None:
    conn.executemany("DELETE FROM target_sync WHERE target = ? AND scope = ?", keys)
