"""Writes inside one open SQLite write transaction (``SQLiteStore.transaction()``): the
shared :class:`~reconciler.store.sqlbase.tx.SqlTx` in the SQLite dialect.

The transaction gets the connection and the store's error guard from the store; it knows
nothing else about the store (no import of it, no private access)."""

from __future__ import annotations

from reconciler.store.sqlbase.tx import SqlTx
from reconciler.store.sqlite.dialect import SQLITE


class SQLiteTx(SqlTx):
    """Reads and writes inside one open transaction (implements ``StoreTx``)."""

    __slots__ = ()
    dialect = SQLITE
