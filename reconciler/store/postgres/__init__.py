"""The PostgreSQL store backend (psycopg 3): several servers share one database; a leader
lease with a fencing token decides who writes (DESIGN §13, docs/postgresql.md)."""

from __future__ import annotations

from reconciler.store.factory import mask_url
from reconciler.store.postgres.connection import is_postgres_url
from reconciler.store.postgres.lease import Fence, Lease, LeaseState, new_holder_id
from reconciler.store.postgres.store import PgStore

__all__ = [
    "Fence",
    "Lease",
    "LeaseState",
    "PgStore",
    "is_postgres_url",
    "mask_url",
    "new_holder_id",
    "open_postgres",
]


def open_postgres(
    target: str, *, lock_timeout_s: float = 30.0, create: bool = True, new_key: bool = False
) -> PgStore:
    """The opener registered for ``postgresql://`` in :mod:`reconciler.store.factory`."""
    return PgStore.open(target, lock_timeout_s=lock_timeout_s, create=create, new_key=new_key)
