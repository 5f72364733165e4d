"""PostgreSQL DDL of the targets' sync state (table ``target_sync``, schema v2): the same
rows as the SQLite backend (``reconciler.store.sqlite.targetsync``), one JSON document per
(target, scope) — fingerprints only, never a secret or a token. Reads and writes are
shared (``reconciler.store.sqlbase``)."""

from __future__ import annotations

from typing import Any

from reconciler.store.postgres.dialect import POSTGRES_DDL
from reconciler.store.sqlbase import ddl

DDL = ddl.tables(POSTGRES_DDL, "target_sync")


def no_seed(now: str) -> list[tuple[str, tuple[Any, ...]]]:
    return []
