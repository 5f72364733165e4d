"""PostgreSQL DDL of the targets' sync state (table ``target_sync``, schema v2): the same
rows as the SQLite backend (``reconciler.store.sqlite.targetsync``), one JSON document per
(target, scope) — fingerprints only, never a secret or a token. Reads and writes are
shared (``reconciler.store.sqlbase``)."""

from __future__ import annotations

from typing import Any

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
