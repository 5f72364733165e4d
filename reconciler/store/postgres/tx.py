"""Writes inside one open PostgreSQL write transaction (``PgStore.transaction()``): the
shared :class:`~reconciler.store.sqlbase.tx.SqlTx` in the PostgreSQL dialect, so it keeps
the SQLite store's semantics by construction."""

from __future__ import annotations

from reconciler.store.postgres.dialect import POSTGRES
from reconciler.store.sqlbase.tx import SqlTx


class PgTx(SqlTx):
    """Reads and writes inside one open transaction (implements ``StoreTx``)."""

    __slots__ = ()
    dialect = POSTGRES
