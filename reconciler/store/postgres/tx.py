"""Writes inside one open PostgreSQL write transaction (``PgStore.transaction()``);
implements :class:`~reconciler.store.protocol.StoreTx` with the SQLite store's semantics."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

import psycopg

from reconciler.clock import utc_now
from reconciler.errors import StoreError
from reconciler.store.history import compact
from reconciler.store.postgres import sql
from reconciler.store.records import (
    Conditions,
    HeldRecord,
    HistoryChange,
    ScopeRecord,
    dumps,
)
from reconciler.store.sqlite import schema as shared
from reconciler.store.sqlite.codec import (
    HISTORY_KINDS,
    TextMemo,
    encode,
    gc_paused,
    held_row,
)

if TYPE_CHECKING:
    from reconciler.store.postgres.store import PgStore

Guard = Callable[[str], AbstractContextManager[None]]
Conn = psycopg.Connection[Any]


class PgTx:
    """Reads and writes inside one open transaction."""

    __slots__ = ("_conn_", "_guard", "_open", "_store", "_texts", "changed")

    def __init__(self, conn: Conn, guard: Guard, store: PgStore) -> None:
        self._conn_ = conn
        self._guard = guard
        self._store = store
        self._open = True
        self.changed = False  # something was written (the store then moves its counter)
        self._texts = TextMemo()  # values shared by records: encoded once

    def finish(self) -> None:
        self._open = False
        self._texts.clear()

    @contextmanager
    def _conn(self, action: str) -> Iterator[Conn]:
        if not self._open:
            raise StoreError("the store transaction is already finished", hint="open a new one")
        with self._guard(action):
            yield self._conn_

    def _many(self, conn: Conn, text: str, rows: Sequence[Sequence[Any]]) -> None:
        """executemany; notes whether any row changed (the store's change counter)."""
        with conn.cursor() as cur:
            cur.executemany(text, rows)
            if cur.rowcount > 0:
                self.changed = True

    def _one(self, conn: Conn, text: str, params: Sequence[Any]) -> None:
        if conn.execute(text, params).rowcount > 0:
            self.changed = True

    # reads

    def get(self, scope: str) -> ScopeRecord | None:
        with self._conn("read scope") as conn:
            return self._store.read_scope(conn, scope)

    def scopes(self) -> dict[str, ScopeRecord]:
        with self._conn("read scopes") as conn:
            return self._store.read_scopes(conn)

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
                self._one(conn, "DELETE FROM probes WHERE scope = ANY(%s)", (no_probe,))

    def delete(self, scope: str) -> None:
        self.delete_many((scope,))

    def delete_many(self, scopes: Iterable[str]) -> None:
        names = list(scopes)
        if names:
            with self._conn("delete scopes") as conn:
                self._one(conn, "DELETE FROM scopes WHERE scope = ANY(%s)", (names,))

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
        sets, extra = ["conditions = %s"], []
        if last_attempted_revision is not None:
            sets.append("last_attempted_revision = %s")
            extra.append(last_attempted_revision)
        if last_attempted_at is not None:
            sets.append("last_attempted_at = %s")
            extra.append(last_attempted_at)
        rows = [(dumps(conds), *extra, scope) for scope, conds in items]
        if rows:
            with self._conn("write conditions") as conn:
                self._many(conn, f"UPDATE scopes SET {', '.join(sets)} WHERE scope = %s", rows)

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
            self._many(conn, sql.CAP_PROBE_LOG, [(s, s, shared.PROBE_LOG_KEEP) for s in names])

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
            row = conn.execute(
                sql.INSERT_HISTORY, (revision, at or utc_now(), actor, kind, summary)
            ).fetchone()
            assert row is not None
            self.changed = True
            hid = int(row[0])
            self._many(conn, sql.INSERT_DELTA, [(hid, n, d) for n, d in enumerate(entry.deltas)])
            self._many(conn, sql.INSERT_CHANGE, [(hid, *row) for row in entry.scopes])
            return hid

    def prune_history(self, keep: int) -> int:
        if keep < 0:
            raise ValueError(f"history keep must be >= 0, not {keep}")
        with self._conn("prune history") as conn:
            dropped = max(conn.execute(sql.PRUNE_HISTORY, (keep,)).rowcount, 0)
        if dropped:
            self.changed = True
        return dropped

    def held(self) -> dict[str, HeldRecord]:
        with self._conn("read held") as conn:
            return {h.name: h for h in self._store.read_held(conn)}

    def put_held(self, records: Iterable[HeldRecord]) -> None:
        rows = [held_row(h) for h in records]
        if rows:
            with self._conn("write held") as conn:
                self._many(conn, sql.UPSERT_HELD, rows)

    def drop_held(self, names: Iterable[str]) -> None:
        keys = list(names)
        if keys:
            with self._conn("write held") as conn:
                self._one(conn, "DELETE FROM held WHERE name = ANY(%s)", (keys,))

    def claimed_files(self, files: Sequence[str]) -> set[str]:
        if not files:
            return set()
        with self._conn("read source files") as conn:
            rows = conn.execute(
                "SELECT source_file FROM scopes WHERE source_file = ANY(%s)", (list(files),)
            ).fetchall()
        return {r[0] for r in rows}

    def set_current_revision(self, revision: str) -> None:
        with self._conn("write revision") as conn:
            self._one(conn, sql.SET_META, (shared.META_CURRENT_REVISION, revision))
