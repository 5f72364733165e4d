"""PostgreSQL SQL of the targets' sync state (table ``target_sync``, schema v2): the same
rows as the SQLite backend (``reconciler.store.sqlite.targetsync``), one JSON document per
(target, scope) — fingerprints only, never a secret or a token."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Any

import psycopg

from reconciler.store.records import dumps
from reconciler.store.syncstate import SyncState

DDL: tuple[str, ...] = (
    """CREATE TABLE target_sync (
        target  TEXT NOT NULL,
        scope   TEXT NOT NULL,
        state   TEXT NOT NULL,
        PRIMARY KEY (target, scope)
    )""",
    "CREATE INDEX target_sync_scope ON target_sync(scope)",
)


def no_seed(now: str) -> list[tuple[str, tuple[Any, ...]]]:
    return []


def read(conn: psycopg.Connection[Any], scopes: Collection[str] | None) -> list[SyncState]:
    if scopes is None:
        rows = conn.execute("SELECT state FROM target_sync ORDER BY target, scope").fetchall()
    else:
        rows = conn.execute(
            "SELECT state FROM target_sync WHERE scope = ANY(%s)", (sorted(scopes),)
        ).fetchall()
    return [SyncState.from_dict(json.loads(r[0])) for r in rows]


def put(conn: psycopg.Connection[Any], states: Iterable[SyncState]) -> int:
    rows = [(s.target, s.scope, dumps(s.to_dict())) for s in states]
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO target_sync (target, scope, state) VALUES (%s, %s, %s) "
                "ON CONFLICT (target, scope) DO UPDATE SET state = excluded.state",
                rows,
            )
    return len(rows)


def drop(conn: psycopg.Connection[Any], keys: Iterable[tuple[str, str]]) -> int:
    rows = list(keys)
    if rows:
        with conn.cursor() as cur:
            cur.executemany("DELETE FROM target_sync WHERE target = %s AND scope = %s", rows)
    return len(rows)
