""":class:`SqlStore`: the part of :class:`~reconciler.store.protocol.StateStore` that is the
same in every SQL backend — the reads, the write transaction around :class:`.tx.SqlTx`,
suspend, probes and the targets' sync state — written once over a :class:`.dialect.Dialect`.

A backend subclasses it and supplies what really differs: its dialect and transaction
class, how it opens and closes, its transactions (:meth:`SqlStore._read`,
:meth:`SqlStore._write`), its error guard, and how it moves the change counter
(:meth:`SqlStore._wrote`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ClassVar, Self

from reconciler.clock import utc_now
from reconciler.errors import StoreError
from reconciler.store.history import ScopeDelta
from reconciler.store.protocol import PROBE_LOG_KEEP
from reconciler.store.records import (
    HeldRecord,
    HistoryEntry,
    ScopeDigest,
    ScopeRecord,
    StatusSnapshot,
    StoreSnapshot,
    Suspension,
    dumps,
)
from reconciler.store.sqlbase import historyrows, reads, sql
from reconciler.store.sqlbase.dialect import Conn, Dialect
from reconciler.store.sqlbase.tx import SqlTx
from reconciler.store.syncstate import SyncState


class SqlStore(ABC):
    """The shared half of an SQL backend's store (see the module docstring)."""

    dialect: ClassVar[Dialect]
    tx_class: ClassVar[type[SqlTx]]

    def __init__(self) -> None:
        self._key: bytes | None = None
        self._key_error: StoreError | None = None

    # ------------------------------------------------------------------ the backend's part

    @property
    @abstractmethod
    def location(self) -> str: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def lost(self) -> str | None: ...

    @abstractmethod
    def _guard(self, action: str) -> AbstractContextManager[None]:
        """Translate the driver's and decoding failures into the StoreError family."""

    @abstractmethod
    def _read(self, action: str) -> AbstractContextManager[Conn]:
        """A read transaction (one snapshot), or the write transaction already open."""

    @abstractmethod
    def _write(self, action: str, *, fenced: bool = True) -> AbstractContextManager[Conn]:
        """A serialised write transaction; ``fenced=False``: an operator's write that a
        backend with a leader lease lets through without the lease."""

    @abstractmethod
    def _wrote(self, conn: Conn) -> None:
        """Something was written in the open write transaction: the change counter moves
        (once per transaction; a backend that counts changes itself does nothing)."""

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def fingerprint_key(self) -> bytes:
        """The per-store random 32-byte key for keyed secret fingerprints (from its file)."""
        if self._key is None:
            raise self._key_error or StoreError(
                f"store {self.location}: no fingerprint key", hint="open the store again"
            )
        return self._key

    # ------------------------------------------------------------------ reads

    def scopes(self, names: Collection[str] | None = None) -> dict[str, ScopeRecord]:
        """All scopes (or those of ``names``): ``host`` first, then orgs by name."""
        with self._read("read scopes") as conn:
            return reads.scopes(conn, self.dialect, names)

    def scope_digests(self) -> dict[str, ScopeDigest]:
        with self._read("read scope digests") as conn:
            return reads.digests(conn, self.dialect)

    def get(self, scope: str) -> ScopeRecord | None:
        with self._read("read scope") as conn:
            return reads.scope(conn, self.dialect, scope)

    def suspension(self) -> Suspension:
        """Whether reconciliation is suspended, why, since when, and who suspended (or last
        resumed); reason and time are ``None`` when not suspended."""
        with self._read("read suspend flag") as conn:
            return reads.suspension(conn, self.dialect)

    def current_revision(self) -> str | None:
        with self._read("read revision") as conn:
            return reads.current_revision(conn, self.dialect)

    def data_version(self) -> int:
        """Increases with every committed write that changed something (any process)."""
        with self._read("read data version") as conn:
            return reads.data_version(conn, self.dialect)

    def snapshot(self) -> StoreSnapshot:
        """Scopes, suspend state, revision and data version from one consistent read."""
        with self._read("read snapshot") as conn:
            return StoreSnapshot(reads.scopes(conn, self.dialect), *reads.state(conn, self.dialect))

    def status_snapshot(self) -> StatusSnapshot:
        """:meth:`snapshot` without specs, settings and sources (see the protocol)."""
        with self._read("read status snapshot") as conn:
            return StatusSnapshot(
                reads.statuses(conn, self.dialect), *reads.state(conn, self.dialect)
            )

    def held(self) -> list[HeldRecord]:
        """Held scopes never applied and invalid files naming no scope (see ``HeldRecord``)."""
        with self._read("read held") as conn:
            return reads.held(conn, self.dialect)

    def history(
        self, scope: str | None = None, limit: int | None = 50, *, scopes: bool = True
    ) -> list[HistoryEntry]:
        with self._read("read history") as conn:
            return historyrows.entries(conn, self.dialect, scope, limit, scopes)

    def history_changes(self, history_id: int) -> list[ScopeDelta]:
        with self._read("read history") as conn:
            return historyrows.changes(conn, self.dialect, history_id)

    def history_change(self, history_id: int, scope: str) -> ScopeDelta | None:
        with self._read("read history") as conn:
            return historyrows.change(conn, self.dialect, history_id, scope)

    def probe_log(self, scope: str, limit: int = PROBE_LOG_KEEP) -> list[dict[str, Any]]:
        """The scope's recent probe results, newest first (at most PROBE_LOG_KEEP kept)."""
        with self._read("read probe log") as conn:
            return reads.probe_log(conn, self.dialect, scope, limit)

    # ------------------------------------------------------------------ writes

    @contextmanager
    def transaction(self) -> Iterator[SqlTx]:
        """One serialised write transaction; rolled back on any exception. Waits up to the
        lock timeout for another writer, then raises StoreLockedError."""
        with self._write("transaction") as conn:
            tx = self.tx_class(conn, self._guard)
            try:
                yield tx
                if tx.changed:
                    with self._guard("transaction"):
                        self._wrote(conn)
            finally:
                tx.finish()

    def set_suspended(self, reason: str | None, actor: str) -> None:
        """Suspend with ``reason``, or resume with ``None``: an operator's switch, written
        without a leader lease (the leader honours it), serialised with every writer."""
        d = self.dialect
        with self._write("suspend", fenced=False) as conn, self._guard("suspend"):
            if reason is None:
                gone = [sql.META_SUSPEND_REASON, sql.META_SUSPEND_AT]
                conn.execute(d.sql(sql.DELETE_META), (d.bind_list(gone),))
                rows = [(sql.META_SUSPENDED, "0"), (sql.META_SUSPEND_BY, actor)]
            else:
                rows = [
                    (sql.META_SUSPENDED, "1"),
                    (sql.META_SUSPEND_REASON, reason),
                    (sql.META_SUSPEND_AT, utc_now()),
                    (sql.META_SUSPEND_BY, actor),
                ]
            d.execute_many(conn, sql.SET_META, rows)
            self._wrote(conn)

    def set_probe(self, scopes: Sequence[str], result: dict[str, Any]) -> None:
        """Record one probe result for scopes (absent ones skipped), in its own transaction.

        Conditions are not touched: the caller sets them through ``StoreTx.set_conditions``.
        """
        with self.transaction() as tx:
            tx.set_probe_many(scopes, result)

    # ------------------------------------------------------------------ target sync state

    def target_states(self, scopes: Collection[str] | None = None) -> list[SyncState]:
        """Sync state of every (target, scope), or of the given scopes only."""
        with self._read("read target sync state") as conn, self._guard("read target sync"):
            return reads.sync_states(conn, self.dialect, scopes)

    def put_target_states(self, states: Iterable[SyncState]) -> None:
        """Record sync states (its own transaction, after the settings commit)."""
        rows = [(s.target, s.scope, dumps(s.to_dict())) for s in states]
        self._write_rows("write target sync state", "write target sync", sql.UPSERT_SYNC, rows)

    def drop_target_states(self, keys: Iterable[tuple[str, str]]) -> None:
        """Forget (target, scope) pairs: a removed target, a pruned scope."""
        rows = list(keys)
        self._write_rows("drop target sync state", "drop target sync", sql.DELETE_SYNC, rows)

    def _write_rows(self, action: str, step: str, text: str, rows: Sequence[Sequence[str]]) -> None:
        with self._write(action) as conn, self._guard(step):
            if rows:
                self.dialect.execute_many(conn, text, rows)
                self._wrote(conn)
