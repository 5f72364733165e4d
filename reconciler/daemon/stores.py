"""The daemon's store connections and who may write through them.

- SQLite (a path): the daemon locks the store (one daemon per store, ``lock.DaemonLock``)
  and always leads; the lock file is watched like the store file.
- PostgreSQL (a ``postgresql://`` URL): no lock; the writer and probe-result connections are
  fenced by the lease this daemon holds while it leads (:class:`.leader.LeaseLeader`), and
  all its sessions carry its holder name (``application_name``), so the server shows which
  daemon is which.

Four connections in both cases: the worker's (reconciles), the probe results', the event
loop's reader (HTTP, suspend polling) and the read API's (never waits on the others).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.store import StateStore, open_store

from .leader import Leadership, LeaseLeader, OnChange, command_lease
from .storeguard import Check

LEASE_INTERVAL_S = 5.0
LEASE_DURATION_S = 15.0


@dataclass
class DaemonStores:
    db: StateStore
    reader: StateStore
    prober: StateStore
    api: StateStore
    checks: Sequence[Check] = ()
    lease: Any = None  # reconciler.store.postgres.Lease for a shared store
    _close: list[Callable[[], None]] = field(default_factory=list)

    def leadership(
        self, *, interval_s: float, duration_s: float, log: Any, metrics: Any, on_change: OnChange
    ) -> Leadership | None:
        """``None`` for SQLite (the daemon always leads), else the lease's leadership."""
        if self.lease is None:
            return None
        return LeaseLeader(
            self.lease,
            interval_s=interval_s,
            duration_s=duration_s,
            log=log,
            metrics=metrics,
            on_change=on_change,
        )

    def close(self) -> None:
        for close in reversed(self._close):
            with contextlib.suppress(Exception):
                close()


def is_shared(target: str | Path) -> bool:
    return "://" in str(target) and not str(target).startswith("sqlite://")


def open_daemon_stores(
    target: str | Path, *, lease_duration_s: float, info: dict[str, Any]
) -> DaemonStores:
    """Open the daemon's connections (and lock or lease) on ``target``."""
    if is_shared(target):
        return _shared(str(target), lease_duration_s, info)
    from reconciler.store.lock import DaemonLock

    path = Path(str(target).removeprefix("sqlite://"))
    lock = DaemonLock.acquire(path)  # one daemon per store; released when we exit
    closers: list[Callable[[], None]] = [lock.release]
    try:
        db = open_store(path)
        closers.append(db.close)
        reader = open_store(path, create=False)
        closers.append(reader.close)
        prober = open_store(path, create=False)  # probe results: their own connection
        closers.append(prober.close)
        api = open_store(path, create=False)
        closers.append(api.close)
    except BaseException:
        for close in reversed(closers):
            close()
        raise
    return DaemonStores(db, reader, prober, api, (lock.lost,), None, closers)


def _shared(url: str, duration_s: float, info: dict[str, Any]) -> DaemonStores:
    from reconciler.store.postgres import Fence, Lease, PgStore, new_holder_id
    from reconciler.store.postgres.connection import PgTarget
    from reconciler.store.postgres.lease import application_name

    fence = Fence(new_holder_id())
    name = application_name(fence.holder)
    closers: list[Callable[[], None]] = []
    try:
        db = PgStore.open(url, fence=fence, application_name=name)
        closers.append(db.close)
        reader = PgStore.open(url, create=False, application_name=name)
        closers.append(reader.close)
        prober = PgStore.open(url, create=False, fence=fence, application_name=name)
        closers.append(prober.close)
        api = PgStore.open(url, create=False, application_name=name)
        closers.append(api.close)
    except BaseException:
        for close in reversed(closers):
            close()
        raise
    lease = Lease(PgTarget.parse(url), fence, duration_s, {"role": "mailctl daemon", **info})
    closers.append(lease.close)
    return DaemonStores(db, reader, prober, api, (), lease, closers)


@contextlib.contextmanager
def writer_lease(
    store: StateStore, *, wait_s: float, interval_s: float = LEASE_INTERVAL_S
) -> Iterator[None]:
    """For a command that writes scopes (``apply``, ``rollback``): on a shared store, hold
    the leader lease while it runs (waiting up to ``wait_s`` for a daemon's lease to be
    free); on SQLite nothing (SQLite serialises writers itself)."""
    from_postgres = type(store).__module__.startswith("reconciler.store.postgres")
    if not from_postgres:
        yield
        return
    from reconciler.store.postgres import Fence, Lease, PgStore, new_holder_id

    assert isinstance(store, PgStore)
    fence = Fence(new_holder_id())
    store.join_lease(fence)
    lease = Lease(store.target, fence, LEASE_DURATION_S, {"role": "mailctl apply"})
    with command_lease(lease, wait_s=wait_s, interval_s=interval_s):
        yield
