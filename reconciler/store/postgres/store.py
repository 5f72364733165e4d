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
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from types import TracebackType
from typing import Any, Self

import psycopg
from psycopg import pq

from reconciler.clock import utc_now
from reconciler.errors import StoreCorruptError, StoreError
from reconciler.store.history import ScopeDelta
from reconciler.store.postgres import history, schema, targetsync
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
from reconciler.store.protocol import PROBE_LOG_KEEP
from reconciler.store.records import (
    HeldRecord,
    HistoryEntry,
    ScopeRecord,
    StatusSnapshot,
    StoreSnapshot,
    Suspension,
)
from reconciler.store.sqlbase import reads, sql
from reconciler.store.syncstate import SyncState

_CORRUPT_HINT = "point --store at a mailctl store or at an empty database"
_IDLE = pq.TransactionStatus.IDLE


class PgStore:
    """A mailctl store in a PostgreSQL database. Create with :meth:`open`."""

    def __init__(
        self,
        target: PgTarget,
        lock_timeout_s: float,
        application_name: str,
        fence: Fence | None,
    ) -> None:
        self.target = target
        self.lock_timeout_s = lock_timeout_s
        self.application_name = application_name
        self.fence = fence
        self._conn: psycopg.Connection[Any] | None = None
        self._closed = False
        self._lock = threading.RLock()
        self._key: bytes | None = None
        self._key_error: StoreError | None = None

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

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

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

    def _bump(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(
            "UPDATE meta SET value = (value::bigint + 1)::text WHERE key = %s",
            (sql.META_CHANGE_COUNTER,),
        )

    def _meta(self, conn: psycopg.Connection[Any], *keys: str) -> dict[str, str | None]:
        rows = conn.execute("SELECT key, value FROM meta WHERE key = ANY(%s)", (list(keys),))
        found = dict(rows.fetchall())
        return {k: found.get(k) for k in keys}

    def read_scopes(self, conn: psycopg.Connection[Any]) -> dict[str, ScopeRecord]:
        return reads.scopes(conn, POSTGRES)

    def read_scope(self, conn: psycopg.Connection[Any], scope: str) -> ScopeRecord | None:
        return reads.scope(conn, POSTGRES, scope)

    def read_held(self, conn: psycopg.Connection[Any]) -> list[HeldRecord]:
        return reads.held(conn, POSTGRES)

    def _suspension(self, conn: psycopg.Connection[Any]) -> Suspension:
        m = self._meta(
            conn,
            sql.META_SUSPENDED,
            sql.META_SUSPEND_REASON,
            sql.META_SUSPEND_AT,
            sql.META_SUSPEND_BY,
        )
        return Suspension(
            suspended=m[sql.META_SUSPENDED] == "1",
            reason=m[sql.META_SUSPEND_REASON],
            at=m[sql.META_SUSPEND_AT],
            by=m[sql.META_SUSPEND_BY],
        )

    def _data_version(self, conn: psycopg.Connection[Any]) -> int:
        return int(self._meta(conn, sql.META_CHANGE_COUNTER)[sql.META_CHANGE_COUNTER] or 0)

    # ------------------------------------------------------------------ reads

    def scopes(self) -> dict[str, ScopeRecord]:
        with self._read("read scopes") as conn:
            return self.read_scopes(conn)

    def get(self, scope: str) -> ScopeRecord | None:
        with self._read("read scope") as conn:
            return self.read_scope(conn, scope)

    def suspension(self) -> Suspension:
        with self._read("read suspend flag") as conn:
            return self._suspension(conn)

    def current_revision(self) -> str | None:
        with self._read("read revision") as conn:
            return self._meta(conn, sql.META_CURRENT_REVISION)[sql.META_CURRENT_REVISION]

    def fingerprint_key(self) -> bytes:
        if self._key is None:
            raise self._key_error or StoreError(
                f"store {self.location}: no fingerprint key", hint="open the store again"
            )
        return self._key

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

    def data_version(self) -> int:
        with self._read("read data version") as conn:
            return self._data_version(conn)

    def snapshot(self) -> StoreSnapshot:
        with self._read("read snapshot") as conn:
            return StoreSnapshot(
                scopes=self.read_scopes(conn),
                suspension=self._suspension(conn),
                current_revision=self._meta(conn, sql.META_CURRENT_REVISION)[
                    sql.META_CURRENT_REVISION
                ],
                data_version=self._data_version(conn),
                held=tuple(self.read_held(conn)),
            )

    def status_snapshot(self) -> StatusSnapshot:
        with self._read("read status snapshot") as conn:
            return StatusSnapshot(
                reads.statuses(conn, POSTGRES),
                self._suspension(conn),
                self._meta(conn, sql.META_CURRENT_REVISION)[sql.META_CURRENT_REVISION],
                self._data_version(conn),
                tuple(self.read_held(conn)),
            )

    def held(self) -> list[HeldRecord]:
        with self._read("read held") as conn:
            return self.read_held(conn)

    def lease(self) -> LeaseState | None:
        """Who holds the leader lease (for ``status`` and ``/status``)."""
        with self._read("read the leader lease") as conn:
            return read_state(conn)

    def history(
        self, scope: str | None = None, limit: int | None = 50, *, scopes: bool = True
    ) -> list[HistoryEntry]:
        with self._read("read history") as conn:
            return history.entries(conn, scope, limit, scopes)

    def history_changes(self, history_id: int) -> list[ScopeDelta]:
        with self._read("read history") as conn:
            return history.changes(conn, history_id)

    def history_change(self, history_id: int, scope: str) -> ScopeDelta | None:
        with self._read("read history") as conn:
            return history.change(conn, history_id, scope)

    def probe_log(self, scope: str, limit: int = PROBE_LOG_KEEP) -> list[dict[str, Any]]:
        with self._read("read probe log") as conn:
            rows = conn.execute(
                "SELECT result FROM probe_log WHERE scope = %s ORDER BY id DESC LIMIT %s",
                (scope, limit),
            ).fetchall()
            return [json.loads(r[0]) for r in rows]

    # ------------------------------------------------------------------ writes

    @contextmanager
    def transaction(self) -> Iterator[PgTx]:
        """One serialised (and, with a fence, fenced) write transaction."""
        with self._write("transaction") as conn:
            tx = PgTx(conn, self._guard)
            try:
                yield tx
                if tx.changed:
                    with self._guard("transaction"):
                        self._bump(conn)
            finally:
                tx.finish()

    def set_suspended(self, reason: str | None, actor: str) -> None:
        """Suspend or resume: an operator's switch, written without the lease (the leader
        honours it), serialised with every other writer."""
        with self._write("suspend", fenced=False) as conn, self._guard("suspend"):
            if reason is None:
                conn.execute(
                    "DELETE FROM meta WHERE key = ANY(%s)",
                    ([sql.META_SUSPEND_REASON, sql.META_SUSPEND_AT],),
                )
                rows = [(sql.META_SUSPENDED, "0"), (sql.META_SUSPEND_BY, actor)]
            else:
                rows = [
                    (sql.META_SUSPENDED, "1"),
                    (sql.META_SUSPEND_REASON, reason),
                    (sql.META_SUSPEND_AT, utc_now()),
                    (sql.META_SUSPEND_BY, actor),
                ]
            with conn.cursor() as cur:
                cur.executemany(POSTGRES.sql(sql.SET_META), rows)
            self._bump(conn)

    def set_probe(self, scopes: Sequence[str], result: dict[str, Any]) -> None:
        with self.transaction() as tx:
            tx.set_probe_many(scopes, result)

    # ------------------------------------------------------------------ target sync state

    def target_states(self, scopes: Collection[str] | None = None) -> list[SyncState]:
        with self._read("read target sync state") as conn, self._guard("read target sync"):
            return targetsync.read(conn, scopes)

    def put_target_states(self, states: Iterable[SyncState]) -> None:
        with self._write("write target sync state") as conn, self._guard("write target sync"):
            if targetsync.put(conn, states):
                self._bump(conn)

    def drop_target_states(self, keys: Iterable[tuple[str, str]]) -> None:
        with self._write("drop target sync state") as conn, self._guard("drop target sync"):
            if targetsync.drop(conn, keys):
                self._bump(conn)

    def write_unfenced(self, action: str) -> Any:
        """A write transaction without the fence (the fingerprint key's check value at
        the first open); the change counter is not moved."""
        return self._write(action, fenced=False)
