"""Writes inside one open write transaction of an SQL backend: :class:`SqlTx` implements
:class:`~reconciler.store.protocol.StoreTx` once for both.

The transaction gets the connection and the store's error guard from the store; it knows
nothing else about the store (no import of it, no private access). A backend's subclass
names its :class:`~.dialect.Dialect` and nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ClassVar

from reconciler.clock import utc_now
from reconciler.errors import StoreError
from reconciler.store.history import compact
from reconciler.store.protocol import PROBE_LOG_KEEP
from reconciler.store.records import (
    Conditions,
    HeldRecord,
    HistoryChange,
    ScopeDigest,
    ScopeRecord,
    TextMemo,
    dumps,
)
from reconciler.store.sqlbase import historyrows, reads, sql
from reconciler.store.sqlbase.codec import HISTORY_KINDS, encode, gc_paused, held_row
from reconciler.store.sqlbase.dialect import Conn, Dialect

Guard = Callable[[str], AbstractContextManager[None]]


class SqlTx:
    """Reads and writes inside one open transaction (implements ``StoreTx``)."""

    dialect: ClassVar[Dialect]  # set by each backend's subclass

    __slots__ = ("_conn_", "_guard", "_open", "_texts", "changed")

    def __init__(self, conn: Conn, guard: Guard) -> None:
        self._conn_ = conn
        self._guard = guard
        self._open = True
        self.changed = False  # a row was written (the store then moves its change counter)
        self._texts = TextMemo()  # values shared by records: encoded once

    def finish(self) -> None:
        """Called by the store when the transaction ends: any later use raises."""
        self._open = False
        self._texts.clear()

    @contextmanager
    def _conn(self, action: str) -> Iterator[Conn]:
        if not self._open:
            raise StoreError("the store transaction is already finished", hint="open a new one")
        with self._guard(action):
            yield self._conn_

    def _many(self, conn: Conn, text: str, rows: Sequence[Sequence[Any]]) -> None:
        """``executemany`` of shared SQL; notes whether any row changed."""
        if self.dialect.execute_many(conn, text, rows) > 0:
            self.changed = True

    def _one(self, conn: Conn, text: str, params: Sequence[Any]) -> int:
        count = max(conn.execute(self.dialect.sql(text), params).rowcount, 0)
        if count > 0:
            self.changed = True
        return count

    def _any(self, conn: Conn, text: str, values: list[Any]) -> None:
        """``text`` with one ``= ANY(?)``, bound to ``values``."""
        self._one(conn, text, (self.dialect.bind_list(values),))

    # reads (see the committed state of whoever wrote before us, plus our own writes)

    def get(self, scope: str) -> ScopeRecord | None:
        with self._conn("read scope") as conn:
            return reads.scope(conn, self.dialect, scope)

    def scopes(self, names: Collection[str] | None = None) -> dict[str, ScopeRecord]:
        with self._conn("read scopes") as conn:
            return reads.scopes(conn, self.dialect, names)

    def scope_digests(self) -> dict[str, ScopeDigest]:
        with self._conn("read scope digests") as conn:
            return reads.digests(conn, self.dialect)

    # writes

    def upsert(self, rec: ScopeRecord) -> None:
        self.upsert_many((rec,))

    def upsert_many(self, records: Iterable[ScopeRecord]) -> None:
        with gc_paused():
            encoded = [encode(r, self._texts) for r in records]
        if not encoded:
            return
        probe_rows = [(e.scope, e.probe, e.scope) for e in encoded if e.probe is not None]
        no_probe = [e.scope for e in encoded if e.probe is None]
        with self._conn("write scopes") as conn:
            self._many(conn, sql.UPSERT_SCOPE, [e.scope_row for e in encoded])
            if probe_rows:
                self._many(conn, sql.UPSERT_PROBE, probe_rows)
            if no_probe:
                self._any(conn, sql.DELETE_PROBES, no_probe)

    def delete(self, scope: str) -> None:
        self.delete_many((scope,))

    def delete_many(self, scopes: Iterable[str]) -> None:
        names = list(scopes)
        if names:
            with self._conn("delete scopes") as conn:
                self._any(conn, sql.DELETE_SCOPES, names)

    def set_conditions(
        self,
        scope: str,
        conditions: Conditions,
        last_attempted_revision: str | None = None,
        last_attempted_at: str | None = None,
    ) -> None:
        self.set_conditions_many(
            ((scope, conditions),),
            last_attempted_revision=last_attempted_revision,
            last_attempted_at=last_attempted_at,
        )

    def set_conditions_many(
        self,
        items: Iterable[tuple[str, Conditions]],
        *,
        last_attempted_revision: str | None = None,
        last_attempted_at: str | None = None,
    ) -> None:
        text, extra = sql.SET_CONDITIONS, list[str]()
        for column, value in (
            ("last_attempted_revision", last_attempted_revision),
            ("last_attempted_at", last_attempted_at),
        ):
            if value is not None:
                text += f", {column} = ?"
                extra.append(value)
        rows = [(dumps(conds), *extra, scope) for scope, conds in items]
        if rows:
            with self._conn("write conditions") as conn:
                self._many(conn, text + sql.WHERE_SCOPE, rows)

    def set_probe(self, scope: str, result: dict[str, Any]) -> None:
        self.set_probe_many((scope,), result)

    def set_probe_many(self, scopes: Iterable[str], result: dict[str, Any]) -> None:
        text = dumps(result)
        names = list(scopes)
        if not names:
            return
        with self._conn("write probe") as conn:
            self._many(conn, sql.UPSERT_PROBE, [(s, text, s) for s in names])
            self._many(conn, sql.LOG_PROBE, [(s, text, s) for s in names])
            self._many(conn, sql.CAP_PROBE_LOG, [(s, s, PROBE_LOG_KEEP) for s in names])

    def record_history(
        self,
        *,
        revision: str,
        actor: str,
        kind: str,
        summary: str,
        changes: Sequence[HistoryChange],
        at: str | None = None,
    ) -> int:
        if kind not in HISTORY_KINDS:
            raise ValueError(f"history kind must be one of {sorted(HISTORY_KINDS)}, not {kind!r}")
        entry = compact(changes, self._texts)
        with self._conn("write history") as conn:
            self.changed = True
            fields = (revision, at or utc_now(), actor, kind, summary)
            return historyrows.write(conn, self.dialect, entry, fields)

    def prune_history(self, keep: int) -> int:
        if keep < 0:
            raise ValueError(f"history keep must be >= 0, not {keep}")
        with self._conn("prune history") as conn:
            return self._one(conn, sql.PRUNE_HISTORY, (keep,))

    def held(self) -> dict[str, HeldRecord]:
        with self._conn("read held") as conn:
            return {h.name: h for h in reads.held(conn, self.dialect)}

    def put_held(self, records: Iterable[HeldRecord]) -> None:
        rows = [held_row(h) for h in records]
        if rows:
            with self._conn("write held") as conn:
                self._many(conn, sql.UPSERT_HELD, rows)

    def drop_held(self, names: Iterable[str]) -> None:
        keys = list(names)
        if keys:
            with self._conn("write held") as conn:
                self._any(conn, sql.DELETE_HELD, keys)

    def claimed_files(self, files: Sequence[str]) -> set[str]:
        if not files:
            return set()
        with self._conn("read source files") as conn:
            found = self.dialect.bind_list(list(files))
            rows = conn.execute(self.dialect.sql(sql.CLAIMED_FILES), (found,)).fetchall()
        return {r[0] for r in rows}

    def set_current_revision(self, revision: str) -> None:
        with self._conn("write revision") as conn:
            self._one(conn, sql.SET_META, (sql.META_CURRENT_REVISION, revision))
