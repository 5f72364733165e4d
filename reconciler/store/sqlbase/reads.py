"""The reads both SQL backends run, each on a connection already inside the caller's read
(or write) transaction, in the caller's :class:`~.dialect.Dialect`."""

from __future__ import annotations

from typing import Any

from reconciler.store.records import HeldRecord, ScopeRecord, ScopeStatus
from reconciler.store.sqlbase import sql
from reconciler.store.sqlbase.codec import SharedLoads, decode, gc_paused
from reconciler.store.sqlbase.dialect import Conn, Dialect


def scopes(conn: Conn, d: Dialect) -> dict[str, ScopeRecord]:
    """All scopes, host first; equal JSON texts decode to one shared value."""
    rows = conn.execute(d.sql(sql.SELECT_SCOPES + sql.SCOPE_ORDER))
    loads = SharedLoads()
    with gc_paused():
        return {row[0]: decode(row, loads) for row in rows}


def scope(conn: Conn, d: Dialect, name: str) -> ScopeRecord | None:
    row = conn.execute(d.sql(sql.SELECT_SCOPE), (name,)).fetchone()
    return None if row is None else decode(row)


def statuses(conn: Conn, d: Dialect) -> tuple[ScopeStatus, ...]:
    """Every scope's status. Scopes sharing a probe (every inheriting org shares the host's)
    have identical conditions and probe JSON: each distinct text is decoded once and its
    value shared (read-only) by those rows — at 100,000 scopes a few thousand decodes and
    objects instead of 200,000."""
    rows = conn.execute(d.sql(sql.SELECT_STATUSES)).fetchall()
    loads = SharedLoads()

    def status(*plain: Any, conditions: str, probe: str | None) -> ScopeStatus:
        values = (*plain, loads(conditions), None if probe is None else loads(probe))
        return ScopeStatus(*values)

    with gc_paused():
        return tuple(status(*plain, conditions=c, probe=p) for *plain, c, p in rows)


def held(conn: Conn, d: Dialect) -> list[HeldRecord]:
    return [HeldRecord(*row) for row in conn.execute(d.sql(sql.SELECT_HELD)).fetchall()]
