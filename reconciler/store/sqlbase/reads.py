"""The reads both SQL backends run, each on a connection already inside the caller's read
(or write) transaction, in the caller's :class:`~.dialect.Dialect`."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from reconciler.store.records import (
    HeldRecord,
    ScopeDigest,
    ScopeRecord,
    ScopeStatus,
    Suspension,
    content_digest,
)
from reconciler.store.sqlbase import sql
from reconciler.store.sqlbase.codec import EncodedRecord, SharedLoads, decode, gc_paused
from reconciler.store.sqlbase.dialect import Conn, Dialect
from reconciler.store.syncstate import SyncState

# Plain columns whose values repeat from row to row (mode, revisions, times): kept once.
_REPEATED = tuple(
    name
    in (
        "mode",
        "last_applied_revision",
        "last_applied_at",
        "last_attempted_revision",
        "last_attempted_at",
    )
    for name in EncodedRecord._fields
)


def scopes(conn: Conn, d: Dialect, names: Collection[str] | None = None) -> dict[str, ScopeRecord]:
    """All scopes (or those of ``names``), host first; equal JSON texts decode to one shared
    value, equal revisions and times are one string."""
    if names is None:
        rows = conn.execute(d.sql(sql.SELECT_SCOPES + sql.SCOPE_ORDER))
    else:
        text = d.sql(sql.SELECT_SCOPES + sql.SCOPES_OF + sql.SCOPE_ORDER)
        rows = conn.execute(text, (d.bind_list(sorted(names)),))
    loads = SharedLoads()
    repeated: dict[Any, Any] = {}
    one = repeated.setdefault

    def shared(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple([one(v, v) if r else v for v, r in zip(row, _REPEATED, strict=True)])

    with gc_paused():
        return {row[0]: decode(shared(row), loads) for row in rows}


def digests(conn: Conn, d: Dialect) -> dict[str, ScopeDigest]:
    """Every scope as a :class:`ScopeDigest`: its content columns hashed row by row
    (:func:`content_digest`), never decoded; equal conditions decode once."""
    loads = SharedLoads()
    one: dict[str | None, str | None] = {}
    out: dict[str, ScopeDigest] = {}
    with gc_paused():
        for scope, mode, file, applied, attempted, conds, *content in conn.execute(
            d.sql(sql.select_digests(d.content_digest))
        ):
            out[scope] = ScopeDigest(
                scope,
                one.setdefault(mode, mode) or mode,
                file,
                one.setdefault(applied, applied),
                one.setdefault(attempted, attempted),
                loads(conds),
                bytes(content[0]) if len(content) == 1 else content_digest(mode, *content),
            )
    return out


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


def meta(conn: Conn, d: Dialect, *keys: str) -> dict[str, str | None]:
    found = dict(conn.execute(d.sql(sql.SELECT_META), (d.bind_list(list(keys)),)).fetchall())
    return {k: found.get(k) for k in keys}


def suspension(conn: Conn, d: Dialect) -> Suspension:
    m = meta(
        conn,
        d,
        sql.META_SUSPENDED,
        sql.META_SUSPEND_REASON,
        sql.META_SUSPEND_AT,
        sql.META_SUSPEND_BY,
    )
    return Suspension(
        suspended=m[sql.META_SUSPENDED] == "1",
        reason=m[sql.META_SUSPEND_REASON],
        at=m[sql.META_SUSPEND_AT],
        by=m[sql.META_SUSPEND_BY],
    )


def current_revision(conn: Conn, d: Dialect) -> str | None:
    return meta(conn, d, sql.META_CURRENT_REVISION)[sql.META_CURRENT_REVISION]


def data_version(conn: Conn, d: Dialect) -> int:
    return int(meta(conn, d, sql.META_CHANGE_COUNTER)[sql.META_CHANGE_COUNTER] or 0)


def state(conn: Conn, d: Dialect) -> tuple[Suspension, str | None, int, tuple[HeldRecord, ...]]:
    """Suspension, current revision, data version and held rows (the snapshots' fields)."""
    return (
        suspension(conn, d),
        current_revision(conn, d),
        data_version(conn, d),
        tuple(held(conn, d)),
    )


def probe_log(conn: Conn, d: Dialect, name: str, limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(d.sql(sql.SELECT_PROBE_LOG), (name, limit)).fetchall()
    return [json.loads(r[0]) for r in rows]


def sync_states(conn: Conn, d: Dialect, names: Collection[str] | None) -> list[SyncState]:
    if names is None:
        rows = conn.execute(d.sql(sql.SELECT_SYNC + sql.SYNC_ORDER)).fetchall()
    else:
        text = d.sql(sql.SELECT_SYNC + sql.SYNC_OF_SCOPES)
        rows = conn.execute(text, (d.bind_list(sorted(names)),)).fetchall()
    return [SyncState.from_dict(json.loads(r[0])) for r in rows]
