"""Who writes: the daemon's leadership (DESIGN §13).

- :class:`SoleLeader` (SQLite): the daemon holds the store's lock (``lock.DaemonLock``), so
  it always leads.
- :class:`LeaseLeader` (PostgreSQL): every ``--lease-interval`` the daemon acquires or renews
  the store's lease (:mod:`reconciler.store.postgres.lease`). It leads while it holds the
  lease; a standby keeps trying and takes over once the lease has expired.

A leader that loses the lease stops writing at once: its fence is cleared (every write
transaction from then on is refused locally, and the server refuses anything that was in
flight with the stale token), it logs ``leader.lost`` and turns standby. It loses the lease
when another holder has it, when it cannot renew for a whole lease duration, when a write was
refused by the fencing check, or when the server ends its lease session (an operator's
``pg_terminate_backend``): then it also steps aside for one lease duration, so that a standby
takes over instead of the same process grabbing the lease back.

:func:`command_lease` is the same lease for one command (``apply``, ``rollback``), renewed in
a thread while the command runs and released at its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from reconciler.errors import StoreError

OnChange = Callable[[bool], None]


class Leadership(Protocol):
    leading: bool

    def describe(self) -> dict[str, Any] | None: ...

    async def run(self, stop: asyncio.Event) -> None: ...

    def fenced(self, error: str) -> None: ...

    def release(self) -> None: ...


class SoleLeader:
    """SQLite: one daemon per store, always the leader."""

    leading = True

    def describe(self) -> dict[str, Any] | None:
        return None

    async def run(self, stop: asyncio.Event) -> None:
        await stop.wait()

    def fenced(self, error: str) -> None:  # no fence without a lease
        return None

    def release(self) -> None:
        return None


class LeaseLeader:
    """Leadership through a store lease (see the module doc)."""

    def __init__(
        self,
        lease: Any,  # reconciler.store.postgres.Lease (not imported: no driver for SQLite)
        *,
        interval_s: float,
        duration_s: float,
        log: Any,
        metrics: Any,
        on_change: OnChange,
    ) -> None:
        self.lease = lease
        self.interval_s = interval_s
        self.duration_s = duration_s
        self.log = log
        self.metrics = metrics
        self.on_change = on_change
        self.leading = False
        self.token: int | None = None
        self._renewed_at = 0.0
        self._sit_out_until = 0.0
        self._unreachable: str | None = None
        metrics.set_leader(False)

    def describe(self) -> dict[str, Any] | None:
        return {
            "holder": self.lease.holder,
            "leading": self.leading,
            "token": self.token,
            "lease_interval_s": self.interval_s,
            "lease_duration_s": self.duration_s,
        }

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)

    async def tick(self) -> None:
        started = time.monotonic()
        if started < self._sit_out_until:
            return
        try:
            token, previous = await asyncio.to_thread(self.lease.try_acquire)
        except StoreError as exc:
            self._failed(exc, started)
            return
        if self._unreachable is not None:
            self.log.info("store.reachable", message="The store answers again")
            self._unreachable = None
        self.lease.session_lost = False  # a session lost while standing by is no news
        if token is None:
            if self.leading:
                self._lost("another mailctl holds the lease")
            return
        self._renewed_at = started
        if self.leading and token == self.token:
            return  # renewed
        if self.leading:  # our lease had expired and we took it back: a new term
            self._lost("the lease expired before it was renewed")
        self._acquired(token, previous)

    def _failed(self, exc: StoreError, started: float) -> None:
        if self._unreachable != exc.message:
            self.log.warning("store.unreachable", error=f"{exc.stage}: {exc.message}")
            self._unreachable = exc.message
        if not self.leading:
            return
        if self.lease.session_lost:
            self.lease.session_lost = False
            self._lost("the database ended this leader's session", sit_out=True)
        elif started - self._renewed_at >= self.duration_s:
            self._lost(f"the lease could not be renewed for {self.duration_s:g} s")

    def _acquired(self, token: int, previous: str | None) -> None:
        self.lease.fence.grant(token)
        self.token = token
        message = f"This daemon leads now (fencing token {token})"
        self._changed(True, "leader.acquired", token, previous=previous, message=message)

    def _lost(self, reason: str, *, sit_out: bool = False) -> None:
        if not self.leading:
            return
        self.lease.fence.revoke()  # every write from now on is refused
        token, self.token = self.token, None
        if sit_out:
            self._sit_out_until = time.monotonic() + self.duration_s
        message = f"This daemon no longer leads ({reason}); it stopped writing"
        self._changed(False, "leader.lost", token, reason=reason, message=message)

    def _changed(self, leading: bool, event: str, token: int | None, **fields: Any) -> None:
        """Leadership changed: the gauge, one log event (info when gained, warning when
        lost) and the daemon's callback."""
        self.leading = leading
        self.metrics.set_leader(leading)
        log = self.log.info if leading else self.log.warning
        log(event, holder=self.lease.holder, token=token, **fields)
        self.on_change(leading)

    def fenced(self, error: str) -> None:
        """A write was refused by the fencing check: the lease is gone."""
        self._lost(f"a write was refused by the fencing check: {error}")

    def release(self) -> None:
        """Graceful stop: expire the lease now so that a standby takes over at once."""
        was = self.leading
        self.leading = False
        self.lease.release(self.token if was else None)
        self.lease.close()


@contextlib.contextmanager
def command_lease(lease: Any, *, wait_s: float, interval_s: float) -> Iterator[int]:
    """Hold ``lease`` for one command: wait up to ``wait_s`` for it, renew it every
    ``interval_s`` in a thread, release it at the end. Yields the fencing token."""
    token = lease.acquire(wait_s)
    done = threading.Event()

    def renew() -> None:
        while not done.wait(interval_s):
            try:
                now, _ = lease.try_acquire()
            except StoreError:
                continue  # the server refuses our writes if the lease expires meanwhile
            if now != token:
                lease.fence.revoke()
                return

    keeper = threading.Thread(target=renew, name="mailctl-lease", daemon=True)
    keeper.start()
    try:
        yield token
    finally:
        done.set()
        keeper.join(timeout=5.0)
        lease.release(token)
        lease.close()
