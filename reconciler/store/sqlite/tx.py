"""Writes inside one open SQLite write transaction (``SQLiteStore.transaction()``).

The transaction gets the connection and the store's error guard from the store; it knows
nothing else about the store (no import of it, no private access)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from reconciler.clock import utc_now
from reconciler.errors import StoreError
from reconciler.store.history import compact
from reconciler.store.records import (
    Conditions,
    HeldRecord,
    HistoryChange,
    ScopeRecord,
    dumps,
)
from reconciler.store.sqlite import schema
from reconciler.store.sqlite.codec import (
    CAP_PROBE_LOG,
    HISTORY_KINDS,
    LOG_PROBE,
    SET_META,
    UPSERT_HELD,
    UPSERT_PROBE,
    UPSERT_SCOPE,
    TextMemo,
    encode,
    gc_paused,
    held_row,
    read_held,
    read_scope,
    read_scopes,
)
from reconciler.store.sqlite.history import INSERT_CHANGE, INSERT_DELTA, delta_rows

Guard = Callable[[str], AbstractContextManager[None]]


class SQLiteTx:
    """Reads and writes inside one open transaction (implements ``StoreTx``)."""

    __slots__ = ("_conn_", "_guard", "_open", "_texts")

    def __init__(self, conn: sqlite3.Connection, guard: Guard) -> None:
        self._conn_ = conn
        self._guard = guard
        self._open = True
        self._texts = TextMemo()  # values shared by records: encoded once

    def finish(self) -> None:
        """Called by the store when the transaction ends: any later use raises."""
        self._open = False
        self._texts.clear()

    @contextmanager
    def _conn(self, action: str) -> Iterator[sqlite3.Connection]:
        if not self._open:
            raise StoreError("the store transaction is already finished", hint="open a new one")
        with self._guard(action):
            yield self._conn_

    # reads (see the committed state of whoever wrote before us, plus our own writes)

    def get(self, scope: str) -> ScopeRecord | None:
        with self._conn("read scope") as conn:
            return read_scope(conn, scope)

    def scopes(self) -> dict[str, ScopeRecord]:
        with self._conn("read scopes") as conn:
            return read_scopes(conn)

    # writes

    def upsert(self, rec: ScopeRecord) -> None:
        self.upsert_many((rec,))

    def upsert_many(self, records: Iterable[ScopeRecord]) -> None:
        with gc_paused():
            encoded = [encode(r, self._texts) for r in records]
        if not encoded:
            return
        probe_rows = [(e.scope, e.probe) for e in encoded if e.probe is not None]
        no_probe = [(e.scope,) for e in encoded if e.probe is None]
        with self._conn("write scopes") as conn:
            conn.executemany(UPSERT_SCOPE, [e.scope_row for e in encoded])
            if probe_rows:
                conn.executemany(UPSERT_PROBE, probe_rows)
            if no_probe:
                conn.executemany("DELETE FROM probes WHERE scope = ?", no_probe)

    def delete(self, scope: str) -> None:
        self.delete_many((scope,))

    def delete_many(self, scopes: Iterable[str]) -> None:
        rows = [(s,) for s in scopes]
        if rows:
            with self._conn("delete scopes") as conn:
                conn.executemany("DELETE FROM scopes WHERE scope = ?", rows)

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
        sets, extra = ["conditions = ?"], []
        if last_attempted_revision is not None:
            sets.append("last_attempted_revision = ?")
            extra.append(last_attempted_revision)
        if last_attempted_at is not None:
            sets.append("last_attempted_at = ?")
            extra.append(last_attempted_at)
        rows = [(dumps(conds), *extra, scope) for scope, conds in items]
        if rows:
            with self._conn("write conditions") as conn:
                conn.executemany(f"UPDATE scopes SET {', '.join(sets)} WHERE scope = ?", rows)

    def set_probe(self, scope: str, result: dict[str, Any]) -> None:
        self.set_probe_many((scope,), result)

    def set_probe_many(self, scopes: Iterable[str], result: dict[str, Any]) -> None:
        text = dumps(result)
        rows = [(s, text) for s in scopes]
        if not rows:
            return
        with self._conn("write probe") as conn:
            conn.executemany(UPSERT_PROBE, rows)
            conn.executemany(LOG_PROBE, rows)
            conn.executemany(CAP_PROBE_LOG, [(s, schema.PROBE_LOG_KEEP) for s, _ in rows])

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
            cur = conn.execute(
                "INSERT INTO history (revision, at, actor, kind, summary) VALUES (?, ?, ?, ?, ?)",
                (revision, at or utc_now(), actor, kind, summary),
            )
            hid = cur.lastrowid
            assert hid is not None
            conn.executemany(INSERT_DELTA, delta_rows(hid, entry.deltas))
            conn.executemany(INSERT_CHANGE, [(hid, *row) for row in entry.scopes])
            return hid

    def prune_history(self, keep: int) -> int:
        if keep < 0:
            raise ValueError(f"history keep must be >= 0, not {keep}")
        with self._conn("prune history") as conn:
            cur = conn.execute(
                "DELETE FROM history WHERE id NOT IN"
                " (SELECT id FROM history ORDER BY id DESC LIMIT ?)",
                (keep,),
            )
            return max(cur.rowcount, 0)

    def held(self) -> dict[str, HeldRecord]:
        with self._conn("read held") as conn:
            return {h.name: h for h in read_held(conn)}

    def put_held(self, records: Iterable[HeldRecord]) -> None:
        rows = [held_row(h) for h in records]
        if rows:
            with self._conn("write held") as conn:
                conn.executemany(UPSERT_HELD, rows)

    def drop_held(self, names: Iterable[str]) -> None:
        rows = [(n,) for n in names]
        if rows:
            with self._conn("write held") as conn:
                conn.executemany("DELETE FROM held WHERE name = ?", rows)

    def claimed_files(self, files: Sequence[str]) -> set[str]:
        if not files:
            return set()
        with self._conn("read source files") as conn:
            rows = conn.execute(
                "SELECT source_file FROM scopes"
                " WHERE source_file IN (SELECT value FROM json_each(?))",
                (json.dumps(list(files)),),
            ).fetchall()
        return {r[0] for r in rows}

    def set_current_revision(self, revision: str) -> None:
        with self._conn("write revision") as conn:
            conn.execute(SET_META, (schema.META_CURRENT_REVISION, revision))
