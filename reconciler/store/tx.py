"""Writes inside one open store transaction (``Store.transaction()``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from reconciler.errors import StoreError
from reconciler.store import schema
from reconciler.store.records import (
    Conditions,
    HeldRecord,
    HistoryChange,
    ScopeRecord,
    dumps,
)
from reconciler.store.rows import (
    _CAP_PROBE_LOG,
    _LOG_PROBE,
    _SET_META,
    _UPSERT_HELD,
    _UPSERT_PROBE,
    _UPSERT_SCOPE,
    HISTORY_KINDS,
    Encoded,
    _encode,
    _gc_paused,
    _held,
    _record_json,
    utc_now,
)

if TYPE_CHECKING:
    from reconciler.store.sqlite import Store


class Tx:
    """Writes (and reads) inside one open :meth:`Store.transaction`."""

    __slots__ = ("_encoded", "_open", "_store")

    def __init__(self, store: Store) -> None:
        self._store = store
        self._open = True
        # id(record) -> (record, its encoding): records this transaction read or wrote, so
        # that record_history reuses their JSON instead of encoding them again.
        self._encoded: dict[int, tuple[ScopeRecord, Encoded]] = {}

    def _encoding(self, rec: ScopeRecord) -> Encoded:
        hit = self._encoded.get(id(rec))
        if hit is not None and hit[0] is rec:
            return hit[1]
        enc = _encode(rec)
        self._encoded[id(rec)] = (rec, enc)
        return enc

    @contextmanager
    def _conn(self, action: str) -> Iterator[sqlite3.Connection]:
        if not self._open:
            raise StoreError("the store transaction is already finished", hint="open a new one")
        with self._store._guard(action):
            yield self._store._c

    # reads (see the committed state of whoever wrote before us, plus our own writes)

    def get(self, scope: str) -> ScopeRecord | None:
        with self._conn("read scope") as conn:
            return self._store._get(conn, scope)

    def scopes(self) -> dict[str, ScopeRecord]:
        with self._conn("read scopes") as conn:
            return self._store._scopes(conn, self._encoded)

    # writes

    def upsert(self, rec: ScopeRecord) -> None:
        """Insert or replace the whole record, its probe included (``None`` clears it)."""
        self.upsert_many((rec,))

    def upsert_many(self, records: Iterable[ScopeRecord]) -> None:
        with _gc_paused():
            encoded = [self._encoding(r) for r in records]
        if not encoded:
            return
        scope_rows = [e[:12] for e in encoded]
        probe_rows = [(e[0], e[12]) for e in encoded if e[12] is not None]
        no_probe = [(e[0],) for e in encoded if e[12] is None]
        with self._conn("write scopes") as conn:
            conn.executemany(_UPSERT_SCOPE, scope_rows)
            if probe_rows:
                conn.executemany(_UPSERT_PROBE, probe_rows)
            if no_probe:
                conn.executemany("DELETE FROM probes WHERE scope = ?", no_probe)

    def delete(self, scope: str) -> None:
        """Remove a scope with its probe results; no-op if absent."""
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
        """Update only conditions (and the attempt columns when given); no-op if absent."""
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
        """Latest probe result of a scope, also appended to its capped log; no-op if absent."""
        self.set_probe_many((scope,), result)

    def set_probe_many(self, scopes: Iterable[str], result: dict[str, Any]) -> None:
        text = dumps(result)
        rows = [(s, text) for s in scopes]
        if not rows:
            return
        with self._conn("write probe") as conn:
            conn.executemany(_UPSERT_PROBE, rows)
            conn.executemany(_LOG_PROBE, rows)
            conn.executemany(_CAP_PROBE_LOG, [(s, schema.PROBE_LOG_KEEP) for s, _ in rows])

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
        """Append a history entry with per-scope before/after records; returns its id."""
        if kind not in HISTORY_KINDS:
            raise ValueError(f"history kind must be one of {sorted(HISTORY_KINDS)}, not {kind!r}")
        with _gc_paused():
            rows = [
                (
                    c.scope,
                    None if c.before is None else _record_json(self._encoding(c.before)),
                    None if c.after is None else _record_json(self._encoding(c.after)),
                )
                for c in changes
            ]
        with self._conn("write history") as conn:
            cur = conn.execute(
                "INSERT INTO history (revision, at, actor, kind, summary) VALUES (?, ?, ?, ?, ?)",
                (revision, at or utc_now(), actor, kind, summary),
            )
            hid = cur.lastrowid
            assert hid is not None
            conn.executemany(
                "INSERT INTO history_scopes (history_id, scope, before, after) VALUES (?, ?, ?, ?)",
                [(hid, *row) for row in rows],
            )
            return hid

    def held(self) -> dict[str, HeldRecord]:
        """What is held without an applied record, by name (scope or file)."""
        with self._conn("read held") as conn:
            return {h.name: h for h in _held(conn)}

    def put_held(self, records: Iterable[HeldRecord]) -> None:
        rows = [
            (h.name, h.kind, h.reason, h.message, h.source_file, h.revision, h.at) for h in records
        ]
        if rows:
            with self._conn("write held") as conn:
                conn.executemany(_UPSERT_HELD, rows)

    def drop_held(self, names: Iterable[str]) -> None:
        rows = [(n,) for n in names]
        if rows:
            with self._conn("write held") as conn:
                conn.executemany("DELETE FROM held WHERE name = ?", rows)

    def claimed_files(self, files: Sequence[str]) -> set[str]:
        """Those of ``files`` that are the source file of a stored scope."""
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
            conn.execute(_SET_META, (schema.META_CURRENT_REVISION, revision))
