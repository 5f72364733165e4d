"""What every store backend provides: :class:`StateStore` and its write transaction
:class:`StoreTx` (the shape of kopf's ``ProgressStorage`` and Terraform's backend
interface).

Callers outside ``reconciler.store`` depend on these protocols and on
:func:`reconciler.store.open_store` only, never on a concrete backend. A backend is one
package (``reconciler.store.sqlite``, ``reconciler.store.postgres``) registered by URL
scheme in :mod:`reconciler.store.factory`; the store-behaviour tests in
``tests/store_contract/`` run against every registered backend.

Semantics every backend keeps (DESIGN §3, §9, §13):

- Pure persistence: values are JSON-native and come back equal (see :mod:`.records`).
- ``transaction()`` is one serialised write transaction: a second writer waits (up to the
  lock timeout, then ``StoreLockedError``) and then sees what the first committed; any
  exception rolls everything back. Nested transactions raise ``StoreError``.
- ``data_version()`` grows with every committed transaction that changed something.
- Every failure leaves as a :class:`reconciler.errors.StoreError` (``StoreLockedError``,
  ``StoreCorruptError``, ``StoreLostError``) with a one-line message and a hint.
- History is compact (:mod:`.history`): ``record_history`` gets each touched scope's
  records before and after; a backend keeps :func:`.history.compact` of them (the distinct
  deltas once, one row per scope) and gives them back from ``history_changes`` as
  :class:`.history.ScopeDelta` values, from which ``rollback`` rewinds the current records.
- While a transaction is open on a store object, that object's own reads run inside it
  (they see its writes): ``rollback`` reads history and records in one transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Protocol, Self

from reconciler.store.history import ScopeDelta
from reconciler.store.records import (
    Conditions,
    HeldRecord,
    HistoryChange,
    HistoryEntry,
    ScopeDigest,
    ScopeRecord,
    StatusSnapshot,
    StoreSnapshot,
    Suspension,
)
from reconciler.store.syncstate import SyncState

__all__ = ["PROBE_LOG_KEEP", "StateStore", "StoreTx"]

PROBE_LOG_KEEP = 20  # probe results every backend keeps per scope (``probe_log``)


class StoreTx(Protocol):
    """Reads and writes inside one open write transaction (``StateStore.transaction()``).

    Reads see what earlier writers committed plus this transaction's own writes."""

    def get(self, scope: str) -> ScopeRecord | None: ...

    def scopes(self, names: Collection[str] | None = None) -> dict[str, ScopeRecord]:
        """All scopes (or those of ``names`` that exist): ``host`` first, then orgs by name."""
        ...

    def scope_digests(self) -> dict[str, ScopeDigest]:
        """Every scope without decoding its content (see :class:`ScopeDigest`)."""
        ...

    def upsert(self, rec: ScopeRecord) -> None:
        """Insert or replace the whole record, its probe included (``None`` clears it)."""
        ...

    def upsert_many(self, records: Iterable[ScopeRecord]) -> None: ...

    def delete(self, scope: str) -> None:
        """Remove a scope with its probe results; no-op if absent."""
        ...

    def delete_many(self, scopes: Iterable[str]) -> None: ...

    def set_conditions(
        self,
        scope: str,
        conditions: Conditions,
        last_attempted_revision: str | None = None,
        last_attempted_at: str | None = None,
    ) -> None:
        """Update only conditions (and the attempt fields when given); no-op if absent."""
        ...

    def set_conditions_many(
        self,
        items: Iterable[tuple[str, Conditions]],
        *,
        last_attempted_revision: str | None = None,
        last_attempted_at: str | None = None,
    ) -> None: ...

    def set_probe(self, scope: str, result: dict[str, Any]) -> None:
        """Latest probe result of a scope, also appended to its capped log; no-op if absent."""
        ...

    def set_probe_many(self, scopes: Iterable[str], result: dict[str, Any]) -> None: ...

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
        """Append a history entry (``kind``: ``apply`` | ``rollback``; anything else is a
        ``ValueError``) with each touched scope's record before and after; its id."""
        ...

    def prune_history(self, keep: int) -> int:
        """Drop all but the newest ``keep`` history entries; how many were dropped."""
        ...

    def held(self) -> dict[str, HeldRecord]:
        """What is held without an applied record, by name (scope or file)."""
        ...

    def put_held(self, records: Iterable[HeldRecord]) -> None: ...

    def drop_held(self, names: Iterable[str]) -> None: ...

    def claimed_files(self, files: Sequence[str]) -> set[str]:
        """Those of ``files`` that are the source file of a stored scope."""
        ...

    def set_current_revision(self, revision: str) -> None: ...


class StateStore(Protocol):
    """An open mailctl store. Close it (or use it as a context manager) when done."""

    @property
    def location(self) -> str:
        """Where the store is, for messages and logs (a path, or a URL without password)."""
        ...

    # reads

    def scopes(self, names: Collection[str] | None = None) -> dict[str, ScopeRecord]:
        """All scopes (or those of ``names`` that exist): ``host`` first, then orgs by name.
        Equal JSON columns may decode to one shared value (records are read-only)."""
        ...

    def scope_digests(self) -> dict[str, ScopeDigest]:
        """Every scope without decoding its content: a digest of it, its source file,
        revisions and conditions (:class:`ScopeDigest`), host first. A plan compares the
        digests and reads (``scopes(names)``) only the scopes that differ."""
        ...

    def get(self, scope: str) -> ScopeRecord | None: ...

    def snapshot(self) -> StoreSnapshot:
        """Scopes, suspend state, revision, data version and held rows from one read."""
        ...

    def status_snapshot(self) -> StatusSnapshot:
        """:meth:`snapshot` without decoding specs, settings and sources: every scope's
        conditions, latest probe and revisions, from one read (the read API's index)."""
        ...

    def held(self) -> list[HeldRecord]:
        """Held scopes never applied and invalid files naming no scope."""
        ...

    def suspension(self) -> Suspension: ...

    def current_revision(self) -> str | None: ...

    def history(
        self, scope: str | None = None, limit: int | None = 50, *, scopes: bool = True
    ) -> list[HistoryEntry]:
        """Applied revisions, newest first; with ``scope`` only those touching it;
        ``limit=None`` returns all of them; ``scopes=False`` leaves ``HistoryEntry.scopes``
        empty (cheap when entries touch many scopes)."""
        ...

    def history_changes(self, history_id: int) -> list[ScopeDelta]:
        """Per touched scope (host first), what the entry changed; ``StoreError`` if the id
        is unknown (or no longer kept)."""
        ...

    def history_change(self, history_id: int, scope: str) -> ScopeDelta | None:
        """What entry ``history_id`` changed for ``scope`` alone (``None``: the entry did
        not touch it, or is unknown): one scope of a 100,000-scope cascade, cheaply."""
        ...

    def probe_log(self, scope: str, limit: int = PROBE_LOG_KEEP) -> list[dict[str, Any]]:
        """The scope's recent probe results, newest first (``PROBE_LOG_KEEP`` are kept)."""
        ...

    def fingerprint_key(self) -> bytes:
        """The per-store key for keyed secret fingerprints; ``StoreError`` if it cannot be
        had (commands that need no key still work)."""
        ...

    def lost(self) -> str | None:
        """Why the store can no longer be written (deleted/replaced), or ``None``."""
        ...

    def data_version(self) -> int:
        """Grows with every committed write that changed something (any process)."""
        ...

    # writes

    def transaction(self) -> AbstractContextManager[StoreTx]:
        """One serialised write transaction; rolled back on any exception."""
        ...

    def set_suspended(self, reason: str | None, actor: str) -> None:
        """Suspend with ``reason``, or resume with ``None`` (its own transaction)."""
        ...

    def set_probe(self, scopes: Sequence[str], result: dict[str, Any]) -> None:
        """Record one probe result for scopes (absent ones skipped), its own transaction."""
        ...

    # targets' sync state (DESIGN §12): one row per (target, scope), written after the
    # settings commit in its own transaction; never a secret or a token, fingerprints only

    def target_states(self, scopes: Collection[str] | None = None) -> list[SyncState]:
        """Sync state of every (target, scope), or of the given scopes only."""
        ...

    def put_target_states(self, states: Iterable[SyncState]) -> None:
        """Insert or replace sync states (its own transaction)."""
        ...

    def drop_target_states(self, keys: Iterable[tuple[str, str]]) -> None:
        """Forget (target, scope) pairs: a removed target, a pruned scope."""
        ...

    # lifecycle

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
