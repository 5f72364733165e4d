"""The SQLite store backend: one file, WAL, serialised writers (DESIGN §3).

Only :mod:`reconciler.store.factory` (and the store's own tests) import this package; every
other caller goes through :func:`reconciler.store.open_store` and the ``StateStore``
protocol."""

from __future__ import annotations

import os

from reconciler.store.protocol import StateStore, StoreTx
from reconciler.store.sqlite.schema import SCHEMA_VERSION
from reconciler.store.sqlite.store import SQLiteStore
from reconciler.store.sqlite.tx import SQLiteTx

__all__ = ["SCHEMA_VERSION", "SQLiteStore", "SQLiteTx", "open_sqlite"]


def open_sqlite(
    target: str | os.PathLike[str], *, lock_timeout_s: float, create: bool, new_key: bool
) -> SQLiteStore:
    """The factory's opener for file paths (see :mod:`reconciler.store.factory`)."""
    return SQLiteStore.open(target, lock_timeout_s=lock_timeout_s, create=create, new_key=new_key)


def _conforms(store: SQLiteStore, tx: SQLiteTx) -> tuple[StateStore, StoreTx]:
    """Never called: mypy checks here that the classes implement the protocols."""
    return store, tx
