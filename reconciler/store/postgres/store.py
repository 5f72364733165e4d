"""The PostgreSQL store: the :class:`~reconciler.store.protocol.StateStore` of several
servers sharing one database (DESIGN §13), with the SQLite store's semantics.

- Reads run in one ``REPEATABLE READ READ ONLY`` transaction each (one snapshot).
- Writes serialise like SQLite's ``BEGIN IMMEDIATE``: each write transaction first takes a
  transaction-scoped advisory lock (waiting up to ``lock_timeout_s``, then
  ``StoreLockedError``), so the second writer plans against what the first committed.
- A store opened with a :class:`~.lease.Fence` (the daemon, ``apply``, ``rollback``) checks
  the fencing token inside every write transaction: at the start and with ``FOR SHARE``
  right before ``COMMIT``. A stale token refuses and rolls back the whole transaction.
- The connection is re-made after the server drops it; the failed call raises StoreError.
- Every psycopg failure leaves as a StoreError with one line and no password.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from psycopg import pq

from reconciler.clock import utc_now
from reconciler.errors import StoreCorruptError, StoreError
from reconciler.store.postgres import history, schema
from reconciler.store.postgres.connection import PgTarget
from reconciler.store.postgres.dialect import POSTGRES
from reconciler.store.postgres.keys import settle_key
from reconciler.store.postgres.lease import (
    Fence,
    LeaseState,
    application_name,
    read_state,
    take_write_lock,
)
from reconciler.store.postgres.tx import PgTx
from reconciler.store.sqlbase import sql
from reconciler.store.sqlbase.dialect import Conn
from reconciler.store.sqlbase.store import SqlStore

_CORRUPT_HINT = "point --store at a mailctl store or at an empty database"
_IDLE = pq.TransactionStatus.IDLE


class PgStore(SqlStore):
    """A mailctl store in a PostgreSQL database (its reads and writes are the shared
    :class:`~reconciler.store.sqlbase.store.SqlStore`'s). Create with :meth:`open`."""

    dialect = POSTGRES
    tx_class = PgTx

    def __init__(
        self,
        target: PgTarget,
        lock_timeout_s: float,
        application_name: str,
        fence: Fence | None,
    ) -> None:
        super().__init__()
        self.target = target
        self.lock_timeout_s = lock_timeout_s
        self.application_name = application_name
        self.fence = fence
        self._conn: psycopg.Connection[Any] | None = None
        self._closed = False
        self._lock = threading.RLock()

    @property
    def location(self) -> str:
        return self.target.display

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(
        cls,
        url: str,
        *,
        lock_timeout_s: float = 30.0,
        create: bool = True,
        new_key: bool = False,
        fence: Fence | None = None,
        application_name: str = "mailctl",
    ) -> PgStore:
        target = PgTarget.parse(url)
        store = cls(target, lock_timeout_s, application_name, fence)
        try:
            store._migrate(create)
            store._key, store._key_error = settle_key(store, new_key)
        except BaseException:
            store.close()
            raise
        return store

    def _migrate(self, create: bool) -> None:
        with self._read("open") as conn:
            version = schema.version_of(conn, self.location)
        if version == schema.SCHEMA_VERSION:
            return
        if version is None and not create:
            raise StoreError(
                f"store {self.location} does not exist (the database holds no mailctl store)",
                hint="run `mailctl apply` first, or point --store/MAILCTL_STORE at the store",
            )
        # A session lock taken outside the transaction: the transaction that starts after it
        # sees the catalog as a concurrent opener left it (a lock inside would not).
        with self._lock, self._guard("migrate"):
            conn = self._connection()
            conn.execute(f"SET lock_timeout = {int(self.lock_timeout_s * 1000)}")
            conn.execute("SELECT pg_advisory_lock(%s)", (schema.MIGRATE_LOCK,))
            try:
                self._migrate_locked()
            finally:
                if not conn.closed:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (schema.MIGRATE_LOCK,))
                    conn.execute("RESET lock_timeout")

    def _migrate_locked(self) -> None:
        with self._tx("migrate", write=True) as conn, self._guard("migrate"):
            version = (
                schema.version_of(conn, self.location) or 0
            )  # again: a concurrent opener may have done it
            for statements, seed in schema.MIGRATIONS[version:]:
                for statement in statements:
                    conn.execute(statement)
                for text, params in seed(utc_now()):
                    conn.execute(text, params)
            if version < 3:  # full-record history (v1, v2) becomes compact history
                history.convert_v1(conn)
            conn.execute("UPDATE mailctl_schema SET version = %s", (schema.SCHEMA_VERSION,))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(psycopg.Error):
                conn.close()

    def __repr__(self) -> str:
        return f"<PgStore {self.location!r} {'closed' if self._closed else 'open'}>"

    # ------------------------------------------------------------------ plumbing

    def _connection(self) -> psycopg.Connection[Any]:
        if self._closed:
            raise StoreError(f"store {self.location} is closed", hint="open it again")
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                with suppress(psycopg.Error):
                    conn.close()
            self._conn = None
            conn = self.target.connect(self.application_name)
            self._conn = conn
        return conn

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            if self._conn is not None and self._conn.broken:
                with suppress(psycopg.Error):
                    self._conn.close()
                self._conn = None
            raise self.target.error(exc, action, self.lock_timeout_s) from None
        except (json.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
            raise StoreCorruptError(
                f"store {self.location}: undecodable data during {action}: {exc}",
                hint=_CORRUPT_HINT,
            ) from None

    @contextmanager
    def _tx(self, action: str, *, write: bool) -> Iterator[psycopg.Connection[Any]]:
        """One transaction on the store's connection: COMMIT on success, else ROLLBACK."""
        with self._lock:
            with self._guard(action):
                conn = self._connection()
                if conn.info.transaction_status != _IDLE:
                    raise StoreError(
                        f"store {self.location}: a transaction is already open",
                        hint="write through the open transaction (Tx) instead",
                    )
                conn.execute(
                    "BEGIN ISOLATION LEVEL READ COMMITTED"
                    if write
                    else "BEGIN ISOLATION LEVEL REPEATABLE READ"
                )
            try:
                yield conn
                with self._guard(action):
                    conn.execute("COMMIT")
            except BaseException:
                if not conn.closed and conn.info.transaction_status != _IDLE:
                    with suppress(psycopg.Error):
                        conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _read(self, action: str) -> Iterator[psycopg.Connection[Any]]:
        """A read transaction (one snapshot), or the write transaction already open."""
        with self._lock:
            conn = self._conn
            if conn is not None and not conn.closed and conn.info.transaction_status != _IDLE:
                with self._guard(action):
                    yield conn
                return
            with self._tx(action, write=False) as conn, self._guard(action):
                yield conn

    @contextmanager
    def _write(self, action: str, *, fenced: bool = True) -> Iterator[psycopg.Connection[Any]]:
        """A serialised write transaction; fenced (when the store has a fence) at the start
        and right before COMMIT. The change counter moves when anything was written."""
        fence = self.fence if fenced else None
        with self._tx(action, write=True) as conn:
            with self._guard(action):
                conn.execute(f"SET LOCAL lock_timeout = {int(self.lock_timeout_s * 1000)}")
                if fence is not None:
                    fence.check(conn, lock=False)
                take_write_lock(conn, fence, schema.WRITE_LOCK)
            yield conn
            with self._guard(action):
                if fenced and self.fence is not None:
                    self.fence.check(conn, lock=True)

    def _wrote(self, conn: Conn) -> None:
        conn.execute(
            "UPDATE meta SET value = (value::bigint + 1)::text WHERE key = %s",
            (sql.META_CHANGE_COUNTER,),
        )

    def join_lease(self, fence: Fence) -> None:
        """From now on every write transaction is fenced by ``fence``, and the sessions are
        named after its holder (so a new leader can end this one's stale transactions)."""
        with self._lock:
            self.fence = fence
            self.application_name = application_name(fence.holder)
            if self._conn is not None and not self._conn.closed:
                with self._guard("name the session"):
                    self._conn.execute(
                        "SELECT set_config('application_name', %s, false)",
                        (self.application_name,),
                    )

    def lost(self) -> str | None:
        """A database has no file to lose; a lost lease is the fence's business."""
        return None

    def lease(self) -> LeaseState | None:
        """Who holds the leader lease (for ``status`` and ``/status``)."""
        with self._read("read the leader lease") as conn:
            return read_state(conn)

    def write_unfenced(self, action: str) -> Any:
        """A write transaction without the fence (the fingerprint key's check value at
        the first open); the change counter is not moved."""
        return self._write(action, fenced=False)
