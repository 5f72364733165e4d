"""The leader lease of a shared PostgreSQL store: one row (holder, fencing token, expiry).

- **Acquire or renew** is one ``UPDATE … WHERE expiry <= clock_timestamp() OR holder = me
  RETURNING token``: it succeeds for the holder (renewal) or anyone once the lease has
  expired (takeover). A takeover, or taking back one's own lease after it expired, increments
  the fencing token; a renewal keeps it. Expiry is the database server's clock, so no
  daemon's clock matters.
- **Fencing**: every write transaction of a lease holder checks, inside the transaction,
  that the row still names it with its token and an expiry in the future (at the start, and
  again with ``FOR SHARE`` right before ``COMMIT``, so a takeover is ordered strictly before
  or after the whole transaction). A paused or partitioned ex-leader's writes are refused
  with :class:`StoreFencedError` and rolled back, even before anyone has taken over.
- **Release** (graceful stop, end of ``apply``) expires the lease at once, so a standby
  takes over at its next attempt instead of after the full duration.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pgerr

from reconciler.errors import StoreError, StoreFencedError, StoreLockedError
from reconciler.store.postgres.connection import PgTarget
from reconciler.store.postgres.schema import LEASE_NAME

APP_PREFIX = "mailctl "
LOCK_TIMEOUT_MS = 2000  # a renewal never waits long for a row lock

_ACQUIRE = """
WITH prev AS (SELECT holder, token FROM mailctl_lease WHERE name = %(name)s FOR UPDATE)
UPDATE mailctl_lease AS l SET
    token = CASE WHEN l.holder = %(me)s AND l.expiry > clock_timestamp()
                 THEN l.token ELSE l.token + 1 END,
    acquired_at = CASE WHEN l.holder = %(me)s AND l.expiry > clock_timestamp()
                       THEN l.acquired_at ELSE clock_timestamp() END,
    holder = %(me)s,
    expiry = clock_timestamp() + make_interval(secs => %(duration)s),
    renewed_at = clock_timestamp(),
    info = %(info)s
FROM prev
WHERE l.name = %(name)s AND (l.expiry <= clock_timestamp() OR l.holder = %(me)s)
RETURNING l.token, prev.holder, prev.token
"""
_RELEASE = (
    "UPDATE mailctl_lease SET expiry = least(expiry, clock_timestamp())"
    " WHERE name = %s AND holder = %s AND token = %s"
)
_STATE = (
    "SELECT holder, token, extract(epoch FROM expiry - clock_timestamp())::float8, info"
    " FROM mailctl_lease WHERE name = %s"
)
# The sessions of *other* lease holders that hold the store's write lock — ended only when
# this holder's lease is valid on the server (so they are stale: their commit would be
# refused anyway). A frozen ex-leader's open transaction would otherwise block the new
# leader's writes until it resumed.
_END_STALE_WRITERS = (
    "SELECT count(pg_terminate_backend(a.pid)) FROM pg_locks AS l"
    " JOIN pg_stat_activity AS a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted"
    " AND ((l.classid::bigint << 32) | l.objid::bigint) = %(lock)s"
    " AND a.pid <> pg_backend_pid() AND a.application_name LIKE %(prefix)s"
    " AND a.application_name <> %(mine)s"
    " AND EXISTS (SELECT 1 FROM mailctl_lease WHERE name = %(name)s AND holder = %(me)s"
    " AND token = %(token)s AND expiry > clock_timestamp())"
)
_FENCE = (
    "SELECT holder = %s AND token = %s AND expiry > clock_timestamp(), holder, token"
    " FROM mailctl_lease WHERE name = %s"
)


def new_holder_id() -> str:
    """``host/pid/random``: unique per process start, short enough for application_name."""
    host = socket.gethostname().split(".")[0][:32] or "host"
    return f"{host}/{os.getpid()}/{secrets.token_hex(3)}"


def application_name(holder: str) -> str:
    """What this holder's sessions are called on the server (pg_stat_activity)."""
    return (APP_PREFIX + holder)[:63]


@dataclass(frozen=True, slots=True)
class LeaseState:
    holder: str | None
    token: int
    expires_in_s: float  # <= 0: expired
    info: dict[str, Any]

    def describe(self) -> str:
        who = self.info.get("role", "mailctl")
        where = f"pid {self.info.get('pid', '?')} on host {self.info.get('host', '?')}"
        return f"{who} ({where}), lease expires in {max(self.expires_in_s, 0.0):.0f} s"


class Fence:
    """The fencing token under which this process writes, and whether it still believes it
    holds the lease. Shared by the lease and the process's stores.

    Revoked (the daemon lost the lease), every new write transaction is refused at once; one
    already running is checked against the server at commit with the token it had, so the
    refusal names the store's newer token and holder."""

    def __init__(self, holder: str) -> None:
        self.holder = holder
        self.token: int | None = None  # the last token held (kept when revoked)
        self.valid = False

    def grant(self, token: int) -> None:
        self.token = token
        self.valid = True

    def revoke(self) -> None:
        self.valid = False

    def _not_leading(self) -> StoreFencedError:
        return StoreFencedError(
            "this mailctl does not hold the store's leader lease; nothing was written",
            hint="only the leader writes; see `mailctl status` for who leads",
        )

    def end_stale_writers(self, conn: psycopg.Connection[Any], write_lock: int) -> int:
        """End the sessions of earlier lease holders that still hold the write lock (see
        ``_END_STALE_WRITERS``); how many. Needs the same role (or pg_signal_backend)."""
        if self.token is None or not self.valid:
            return 0
        params = {
            "lock": write_lock,
            "prefix": APP_PREFIX + "%",
            "mine": application_name(self.holder),
            "name": LEASE_NAME,
            "me": self.holder,
            "token": self.token,
        }
        row = conn.execute(_END_STALE_WRITERS, params).fetchone()
        return int(row[0]) if row else 0

    def check(self, conn: psycopg.Connection[Any], *, lock: bool) -> None:
        """Inside the caller's transaction: raise StoreFencedError unless still valid (at
        the start: locally; with ``lock``, right before COMMIT: on the server, FOR SHARE)."""
        token = self.token
        if token is None or not (self.valid or lock):
            raise self._not_leading()
        if not lock:
            return
        row = conn.execute(_FENCE + " FOR SHARE", (self.holder, token, LEASE_NAME)).fetchone()
        if row is None or not row[0]:
            holder, now_token = (row[1], row[2]) if row is not None else (None, None)
            raise StoreFencedError(
                f"the leader lease was lost (fencing token {token}, the store's is {now_token}"
                f"{'' if holder is None else ', held by ' + str(holder)}); the write was"
                " refused and rolled back",
                hint="another mailctl took over; this one stops writing",
            )
        if not self.valid:
            raise self._not_leading()


class Lease:
    """The lease as one holder sees it, on its own connection (thread-safe)."""

    def __init__(
        self, target: PgTarget, fence: Fence, duration_s: float, info: dict[str, Any]
    ) -> None:
        self.target = target
        self.fence = fence
        self.duration_s = duration_s
        self.info = json.dumps({**info, "host": socket.gethostname(), "pid": os.getpid()})
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()
        self.session_lost = False  # the server ended this holder's lease session

    @property
    def holder(self) -> str:
        return self.fence.holder

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            conn = self.target.connect(application_name(self.holder), connect_timeout=5)
            conn.execute(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
            conn.execute(f"SET statement_timeout = {LOCK_TIMEOUT_MS * 2}")
            self._conn = conn
        return self._conn

    def _run(self, action: str, sql: str, params: Any) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._connection().execute(sql, params).fetchall()
            except psycopg.Error as exc:
                if self._conn is not None and self._conn.broken:
                    self.session_lost = True
                    self._conn.close()
                    self._conn = None
                raise self.target.error(exc, action) from None

    def try_acquire(self) -> tuple[int | None, str | None]:
        """Acquire or renew: ``(token, previous holder)`` when held, ``(None, None)`` when
        another holder has it. StoreError when the server cannot be reached (the fence keeps
        its token: the server refuses the writes once the lease has expired)."""
        params = {
            "name": LEASE_NAME,
            "me": self.holder,
            "duration": self.duration_s,
            "info": self.info,
        }
        rows = self._run("acquire the leader lease", _ACQUIRE, params)
        if not rows:
            return None, None
        token, prev_holder, _ = rows[0]
        return int(token), None if prev_holder is None else str(prev_holder)

    def acquire(self, wait_s: float, poll_s: float = 0.5) -> int:
        """Take the lease for a command (``apply``): wait up to ``wait_s`` for it, then
        StoreLockedError naming the holder. Sets the fence's token."""
        deadline = time.monotonic() + wait_s
        while True:
            token, _ = self.try_acquire()
            if token is not None:
                self.fence.grant(token)
                return token
            if time.monotonic() >= deadline:
                state = self.state()
                who = state.describe() if state is not None else "another mailctl"
                raise StoreLockedError(
                    f"store {self.target.display}: the leader lease is held by {who}"
                    f" (waited {wait_s:g} s)",
                    hint="a mailctl daemon leads this store and applies the configs itself;"
                    " stop it to apply by hand, or raise --lock-timeout",
                )
            time.sleep(min(poll_s, max(deadline - time.monotonic(), 0.0)))

    def release(self, token: int | None) -> None:
        """Expire the lease now if this holder still has it under ``token`` (best effort:
        otherwise it expires by itself). The fence is revoked first."""
        self.fence.revoke()
        if token is None:
            return
        with contextlib.suppress(StoreError):
            self._run("release the leader lease", _RELEASE, (LEASE_NAME, self.holder, token))

    def state(self) -> LeaseState | None:
        rows = self._run("read the leader lease", _STATE, (LEASE_NAME,))
        return state_of(rows[0]) if rows else None

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def state_of(row: tuple[Any, ...]) -> LeaseState:
    holder, token, expires_in, info = row
    try:
        data = json.loads(info) if info else {}
    except ValueError:
        data = {}
    return LeaseState(holder, int(token), float(expires_in), data if isinstance(data, dict) else {})


def read_state(conn: psycopg.Connection[Any]) -> LeaseState | None:
    row = conn.execute(_STATE, (LEASE_NAME,)).fetchone()
    return None if row is None else state_of(row)


def take_write_lock(conn: psycopg.Connection[Any], fence: Fence | None, key: int) -> None:
    """The store's write lock (waiting up to the session's lock timeout). A lease holder
    whose wait times out ends the sessions of earlier holders that still hold it (a leader
    frozen inside its transaction: its commit would be refused anyway) and waits once more.
    """
    if fence is None:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
        return
    conn.execute("SAVEPOINT write_lock")
    try:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
        return
    except pgerr.LockNotAvailable:
        conn.execute("ROLLBACK TO SAVEPOINT write_lock")
        if not fence.end_stale_writers(conn, key):
            raise
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
