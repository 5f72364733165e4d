"""Persistence: the SQLite store of applied scopes, history, probes and the suspend flag.

See DESIGN.md §3. The store is pure persistence; the reconcile layer computes every value.
"""

from reconciler.store.records import (
    Conditions,
    HeldRecord,
    HistoryChange,
    HistoryEntry,
    ScopeRecord,
    StoreSnapshot,
    Suspension,
)
from reconciler.store.rows import utc_now
from reconciler.store.schema import SCHEMA_VERSION
from reconciler.store.sqlite import Store
from reconciler.store.tx import Tx

__all__ = [
    "SCHEMA_VERSION",
    "Conditions",
    "HeldRecord",
    "HistoryChange",
    "HistoryEntry",
    "ScopeRecord",
    "Store",
    "StoreSnapshot",
    "Suspension",
    "Tx",
    "utc_now",
]
