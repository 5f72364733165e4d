"""Persistence: applied scopes, history, probes, held rows and the suspend flag.

See DESIGN §3/§9/§13. The store is pure persistence; the reconcile layer computes every
value. Callers use the :class:`StateStore` / :class:`StoreTx` protocols and
:func:`open_store`, which picks the backend from the path or URL (SQLite for a path,
PostgreSQL for ``postgresql://``); no caller names a concrete backend.
"""

from reconciler.clock import utc_now
from reconciler.store.factory import open_store, register_backend
from reconciler.store.history import ScopeDelta
from reconciler.store.protocol import StateStore, StoreTx
from reconciler.store.records import (
    Conditions,
    HeldRecord,
    HistoryChange,
    HistoryEntry,
    ScopeDigest,
    ScopeRecord,
    ScopeStatus,
    StatusSnapshot,
    StoreSnapshot,
    Suspension,
    content_digest,
)

__all__ = [
    "Conditions",
    "HeldRecord",
    "HistoryChange",
    "HistoryEntry",
    "ScopeDelta",
    "ScopeDigest",
    "ScopeRecord",
    "ScopeStatus",
    "StateStore",
    "StatusSnapshot",
    "StoreSnapshot",
    "StoreTx",
    "Suspension",
    "content_digest",
    "open_store",
    "register_backend",
    "utc_now",
]
