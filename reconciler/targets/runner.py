"""The daemon's target runner: syncs on its own thread, so a slow or failing target never
holds a reconcile, an edit, ``/healthz`` or SIGTERM.

The reconcile loop :meth:`submit`\\ s after every commit (the written scopes, or all of them
after a full run; resyncs with a drift check). Submissions made while a sync runs are
merged into the next one. Scopes a sync could not bring in line are retried with backoff
(``backoff`` steps, the last repeating) until a sync succeeds; a resync retries everything.

On a shared store only the leader syncs (DESIGN §13): a daemon that does not lead (or no
longer: ``leading`` turned False, or the store's fencing check refused it, which with
``check_lease`` is asked before any request goes out)
drops what it had queued and its retries, tells ``on_standby`` once (an info event, not a
failure) and waits; the new leader syncs after its takeover reconcile.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.errors import MailctlError, StoreFencedError
from reconciler.secrets import SecretCache
from reconciler.store import StateStore

from .base import SyncContext
from .manifest import TargetManifest
from .state import by_scope, summary, with_sync
from .sync import SyncReport, TargetIds, sync_targets

DEFAULT_BACKOFF = (30.0, 60.0, 300.0, 900.0)


@dataclass(slots=True)
class _Request:
    targets: Sequence[TargetManifest]
    ids: TargetIds
    scopes: set[str] | None  # None: every scope
    drift: bool
    forget: bool


class TargetRunner:
    def __init__(
        self,
        store: StateStore,
        *,
        ca_file: str | None,
        redactor: object,
        on_report: Callable[[SyncReport, dict[str, Any], dict[str, Any]], None],
        on_error: Callable[[str], None],
        backoff: Sequence[float] = DEFAULT_BACKOFF,
        leading: Callable[[], bool] = lambda: True,
        on_standby: Callable[[str], None] = lambda why: None,
        check_lease: bool = False,
    ) -> None:
        self.store, self.ca_file, self.redactor = store, ca_file, redactor  # what syncs use
        self.on_report, self.on_error, self.on_standby = on_report, on_error, on_standby
        self.leading = leading  # a shared store: only the leader syncs
        self.check_lease = check_lease  # ... and asks the store, not only itself, first
        self.backoff = tuple(backoff) or DEFAULT_BACKOFF
        self._aside = False  # stepped aside (not the leader): said once
        self._cv = threading.Condition()
        self._next: _Request | None = None
        self._last: _Request | None = None
        self._retry_at: float | None = None
        self._failures = 0
        self._stop = threading.Event()
        self._ctx_stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mailctl-targets", daemon=True)
        self.runs = 0

    def start(self) -> None:
        self._thread.start()

    def submit(
        self,
        targets: Sequence[TargetManifest],
        ids: TargetIds,
        scopes: Collection[str] | None,
        *,
        drift: bool,
        forget: bool,
    ) -> None:
        with self._cv:
            prev = self._next
            merged = None if scopes is None else set(scopes)
            if prev is not None:
                merged = None if prev.scopes is None or merged is None else prev.scopes | merged
                drift = drift or prev.drift
                forget = forget or prev.forget
            self._next = _Request(targets, ids, merged, drift, forget)
            self._cv.notify()

    def stop(self, wait_s: float = 5.0) -> None:
        self._stop.set()
        self._ctx_stop.set()  # a sync in flight stops taking new scopes
        with self._cv:
            self._cv.notify()
        self._thread.join(timeout=wait_s)

    def _take(self) -> _Request | None:
        with self._cv:
            while not self._stop.is_set():
                if self._next is not None:
                    req, self._next = self._next, None
                    return req
                now = time.monotonic()
                if self._retry_at is not None and now >= self._retry_at and self._last:
                    self._retry_at = None
                    last = self._last
                    return _Request(last.targets, last.ids, None, False, False)
                wait = None if self._retry_at is None else max(self._retry_at - now, 0.01)
                self._cv.wait(timeout=wait)
        return None

    def _loop(self) -> None:
        while True:
            req = self._take()
            if req is None:
                return
            if not self.leading():
                self._step_aside("this daemon does not lead the shared store")
                continue
            self._aside = False
            self._last = req
            try:
                if self.check_lease:
                    # An empty fenced write: the server says whether this daemon still holds
                    # the lease (a paused ex-leader resumes before its lease tick notices).
                    self.store.put_target_states(())
                secrets = SecretCache(self.store.fingerprint_key(), redactor=self.redactor)  # type: ignore[arg-type]
                ctx = SyncContext(
                    secrets, ca_file=self.ca_file, stop=self._ctx_stop, leading=self.leading
                )
                report = sync_targets(
                    self.store,
                    req.targets,
                    req.ids,
                    ctx,
                    drift=req.drift,
                    only=req.scopes,
                    forget_others=req.forget,
                )
            except StoreFencedError as exc:  # the lease is gone: the sync is the leader's now
                self._step_aside(f"the store refused the sync state: {exc.message}")
                continue
            except MailctlError as exc:
                self.on_error(f"{exc.stage}: {exc.message}")
                self._schedule_retry(failed=True)
                continue
            if not self.leading():  # lost the lease during the sync: no retry of ours
                self._step_aside("this daemon stopped leading during the sync")
                continue
            self.runs += 1
            conditions, counts = self._after(report)
            self.on_report(report, conditions, counts)
            self._schedule_retry(failed=report.failed)

    def _after(self, report: SyncReport) -> tuple[dict[str, Any], dict[str, Any]]:
        """The conditions of the scopes this sync touched, and the per-target counts."""
        touched: set[str] = set()
        for t in report.targets:
            touched |= set(t.written) | {o.scope for o in t.failed}
        try:
            states = self.store.target_states()
            if len(touched) > 200:
                records = self.store.scopes()
            else:
                records = {s: r for s in touched if (r := self.store.get(s)) is not None}
        except MailctlError as exc:
            self.on_error(f"{exc.stage}: {exc.message}")
            return {}, {}
        mine = by_scope(states)
        conditions = {
            s: with_sync(records[s].conditions, mine.get(s, ())) for s in touched if s in records
        }
        return conditions, summary(states)

    def _step_aside(self, why: str) -> None:
        """Not the leader: forget the queue and the retries (quietly; said once)."""
        with self._cv:
            self._next = None
            self._last = None
            self._retry_at = None
            self._failures = 0
        if not self._aside:
            self._aside = True
            self.on_standby(why)

    def _schedule_retry(self, *, failed: bool) -> None:
        with self._cv:
            if not failed:
                self._failures = 0
                self._retry_at = None
                return
            delay = self.backoff[min(self._failures, len(self.backoff) - 1)]
            self._failures += 1
            self._retry_at = time.monotonic() + delay
