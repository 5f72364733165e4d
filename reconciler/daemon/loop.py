"""The reconcile loop: start-up reconcile, debounced batches, interval resync, suspend,
signals (SIGHUP resync, SIGTERM/SIGINT graceful stop) and the HTTP endpoints.

All reconcile work runs in one worker thread (:mod:`.worker`); the event loop waits,
watches, serves HTTP (with its own read-only store connection) and runs the probes
(:mod:`.probes`), so ``/healthz`` answers while a 10,000-scope resync runs and no probe,
however long it hangs, holds a reconcile. ``/healthz`` reports the loop's liveness only.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.clock import utc_now
from reconciler.errors import MailctlError, StoreFencedError
from reconciler.gate import GateVerdict
from reconciler.store import StateStore

from . import endpoints
from .api import ReadApi
from .endpoints import human
from .gate import GateProbes
from .runs import Engine, RunReport

if TYPE_CHECKING:
    from reconciler.targets.runner import TargetRunner
from .http import HttpServer
from .leader import Leadership, SoleLeader
from .metrics import DaemonMetrics
from .observe import Observer
from .probes import ProbeRunner
from .storeguard import Check, guard_store
from .watch import watch_folder, written_within

STOP_GRACE_S = 8.0  # SIGTERM: wait this long for the job in flight, then exit anyway
TICK_S = 1.0  # suspension poll and heartbeat
RETRY_MAX_S = 60.0
LOST_LINGER_S = 1.5  # a lost store: keep answering /healthz 503 this long, then exit 1


@dataclass(frozen=True, slots=True)
class LoopOptions:
    interval_s: float
    debounce_s: float
    listen_host: str
    listen_port: int


class Daemon:
    def __init__(
        self,
        engine: Engine,
        reader: StateStore,
        metrics: DaemonMetrics,
        options: LoopOptions,
        log: Any,
        worker_call: Callable[[Callable[[], Any]], Any],
        store_checks: Sequence[Check] = (),
        probes: ProbeRunner | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        self.engine = engine
        self.reader = reader
        self.metrics = metrics
        self.opts = options
        self.log = log
        self.observe = Observer(log, metrics)  # probe and target-sync events, metrics
        self._call = worker_call
        self.probes = probes  # None with --probe off
        self.targets: TargetRunner | None = None  # syncs targets on its own thread
        # --probe gate: changed scopes wait for their probe here, off the reconcile path.
        self.gate: GateProbes | None = None
        self._verdicts: dict[str, GateVerdict] = {}
        self.http = HttpServer(
            {
                path: functools.partial(handler, self)
                for path, handler in (
                    ("/healthz", endpoints.healthz),
                    ("/readyz", endpoints.readyz),
                    ("/status", endpoints.status),
                    ("/metrics", endpoints.metrics),
                )
            }
        )
        self.api: ReadApi | None = None
        self.last_run: dict[str, Any] | None = None  # the last finished reconcile, for /v1
        self.ready = False
        self.stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self.pending: set[str] = set()
        self._last_event = 0.0
        self._waited_once = False
        self._full_reason: str | None = "start"
        self._next_resync = 0.0
        self._retry_delay = 2.0
        self._retry_at = 0.0
        self._suspended: bool | None = None
        self._data_version: int | None = None
        self.store_checks = (engine.store.lost, *store_checks)
        self.lost: str | None = None
        # A standby (shared store, another daemon leads) serves reads and writes nothing.
        self.leadership: Leadership = leadership or SoleLeader()
        self._standby_ready = False

    @property
    def serving_as_standby(self) -> bool:
        """Another daemon leads, and this one serves reads from the shared store."""
        return not self.leadership.leading and self._standby_ready

    # ------------------------------------------------------------------ lifecycle

    def attach_api(self, api: ReadApi, token: str | None) -> None:
        """Serve the read API and the status page; ``token``: bearer required (off
        loopback) on every path but /healthz and /readyz."""
        self.api = api
        self.http.routes.update(api.routes())
        self.http.token = token

    async def run(self) -> int:
        await self.http.start(self.opts.listen_host, self.opts.listen_port)
        if self.probes is not None:
            await self.probes.start()
            if self.engine.policy == "gate":
                self.gate = GateProbes.beside(self.probes, self._on_verdicts)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, self._on_hup)
        self.log.info(
            "daemon.started",
            configs=str(self.engine.configs),
            store=str(self.engine.store.location),
            listen=f"{self.opts.listen_host}:{self.http.port}",
            interval=human(self.opts.interval_s),
            debounce_ms=round(self.opts.debounce_s * 1000),
            probe=self.engine.policy,
            pid=os.getpid(),
        )
        stop_watch = asyncio.Event()
        watcher = asyncio.create_task(
            watch_folder(self.engine.configs, self._on_paths, stop_watch), name="watch"
        )
        guard = asyncio.create_task(
            guard_store(self.store_checks, self._on_store_lost, stop_watch), name="storeguard"
        )
        leading = asyncio.create_task(self.leadership.run(stop_watch), name="leader")
        try:
            await self._main()
        finally:
            stop_watch.set()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(leading, timeout=2.0)
            await asyncio.to_thread(self.leadership.release)
            self._cancel_probes()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.gather(watcher, guard), timeout=2.0)
            if self.probes is not None:
                await self.probes.close()
            if self.gate is not None:
                await self.gate.close()
            if self.api is not None:
                await self.api.close()
            if self.lost is not None:
                await asyncio.sleep(LOST_LINGER_S)  # let health checkers see the 503
            await self.http.stop()
        self.log.info("daemon.stopped", exit_code=1 if self.lost else 0)
        return 1 if self.lost else 0

    def _on_store_lost(self, why: str) -> None:
        self.lost = why
        self.log.error(
            "store.lost",
            store=str(self.engine.store.location),
            error=why,
            message=f"The store is lost ({why}); nothing more is written, stopping",
        )
        self.stopping.set()
        self._cancel_probes()  # nothing more is written
        self._wake.set()

    def _on_stop(self, sig: signal.Signals) -> None:
        if not self.stopping.is_set():
            self.log.info("daemon.stopping", signal=sig.name)
        self.stopping.set()
        self._cancel_probes()  # probes hanging on a silent server must not delay the exit
        self._wake.set()

    def _cancel_probes(self) -> None:
        if self.probes is not None:
            self.probes.cancel()
        if self.gate is not None:
            self.gate.cancel()

    def _on_hup(self) -> None:
        self.log.info("resync.requested", signal="SIGHUP")
        self._full_reason = "resync"
        self._wake.set()

    def _on_paths(self, paths: set[str]) -> None:
        self.pending |= paths
        self._last_event = time.monotonic()
        self._waited_once = False
        self._wake.set()

    # ------------------------------------------------------------------ the loop

    async def _main(self) -> None:
        while not self.stopping.is_set():
            await self._poll_suspension()
            if self.stopping.is_set():
                break
            now = time.monotonic()
            if not self._suspended and self.leadership.leading and now >= self._retry_at:
                if now >= self._next_resync and self._full_reason is None:
                    self._full_reason = "resync"
                if self._full_reason is not None:
                    await self._guarded(self._run_full, self._full_reason)
                elif self.pending and self._debounced(now):
                    await self._guarded(self._run_incremental, "incremental")
                elif self._verdicts:
                    await self._guarded(self._run_gate, "gate")
            elif not self.leadership.leading and (
                not self.engine.warm or (self.pending and self._debounced(now))
            ):
                await self._keep_warm()
            await self._sleep()

    async def _keep_warm(self) -> None:
        """Standby: parse what changed (write nothing), so a takeover starts warm."""
        batch, self.pending = self.pending, set()
        try:
            await self._call(lambda: self.engine.keep_warm(batch))
        except Exception as exc:  # a cold takeover is slower, not wrong
            self.log.warning("standby.warm_failed", error=f"{type(exc).__name__}: {exc}")

    async def _sleep(self) -> None:
        now, leading = time.monotonic(), self.leadership.leading
        if self._suspended:
            timeout = TICK_S
        elif self._retry_at > now and leading:
            timeout = min(self._retry_at - now, TICK_S)
        elif (self._full_reason is not None or self._verdicts) and leading:
            timeout = 0.0
        else:  # a standby waits for the tick, a file event or its takeover (all set _wake)
            timeout = min(TICK_S, max(self._next_resync - now, 0.0)) if leading else TICK_S
            if self.pending:
                timeout = min(timeout, max(self._last_event + self.opts.debounce_s - now, 0.0))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=timeout)
        self._wake.clear()

    def _debounced(self, now: float) -> bool:
        """Quiet for the debounce window; then re-stat once: a file written within the
        window (a slow writer) earns one more window before it is read."""
        if now - self._last_event < self.opts.debounce_s:
            return False
        if self._waited_once:
            return True
        if written_within(self.pending, self.opts.debounce_s):
            self._waited_once = True
            self._last_event = now
            return False
        return True

    async def _guarded(self, job: Callable[[str], Awaitable[None]], kind: str) -> None:
        task = asyncio.ensure_future(job(kind))
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():  # stopping: let the transaction in flight finish, bounded
                await asyncio.wait({task}, timeout=STOP_GRACE_S)
                if not task.done():
                    self.log.warning("daemon.stop_timeout", kind=kind, waited_s=STOP_GRACE_S)
                    return
        finally:
            stop.cancel()
        try:
            task.result()
        except StoreFencedError as exc:
            self.leadership.fenced(exc.message)
            self._failed(kind, f"{exc.stage}: {exc.message}")
        except MailctlError as exc:
            self._failed(kind, f"{exc.stage}: {exc.message}")
        except Exception as exc:
            self._failed(kind, f"{type(exc).__name__}: {exc}")
        else:
            self._retry_delay = 2.0
            self._retry_at = 0.0

    def _failed(self, kind: str, error: str) -> None:
        delay = min(self._retry_delay, RETRY_MAX_S, max(self.opts.interval_s, 1.0))
        self._retry_delay = min(self._retry_delay * 2, RETRY_MAX_S)
        self._retry_at = time.monotonic() + delay
        self._full_reason = self._full_reason or "retry"
        self.metrics.observe_reconcile(kind, 0.0, "failed")
        self.log.error(
            "reconcile.failed",
            kind=kind,
            error=error,
            message=f"Reconciliation failed: {error}; retrying in {human(delay)}",
        )

    async def _run_full(self, reason: str) -> None:
        self.pending.clear()  # a full run re-reads everything
        self._full_reason = None  # a request arriving during the run is kept for the next
        try:
            report: RunReport = await self._call(lambda: self.engine.full(reason))
        except BaseException:
            self._full_reason = self._full_reason or reason
            raise
        self._next_resync = time.monotonic() + self.opts.interval_s
        self._finished(report)

    async def _run_incremental(self, kind: str) -> None:
        batch, self.pending = self.pending, set()
        self._waited_once = False
        report: RunReport | None = await self._call(lambda: self.engine.incremental(batch))
        if report is not None:
            if report.kind == "full":
                self._next_resync = time.monotonic() + self.opts.interval_s
            self._finished(report)

    async def _run_gate(self, kind: str) -> None:
        """Settle the gate probes that completed: commit or hold their scopes."""
        verdicts, self._verdicts = self._verdicts, {}
        try:
            report: RunReport = await self._call(lambda: self.engine.settle_gate(verdicts))
        except BaseException:
            self._verdicts = {**verdicts, **self._verdicts}  # retried with the next run
            raise
        self._finished(report)

    def _on_verdicts(self, verdicts: dict[str, GateVerdict]) -> None:
        """A gate probe completed (not stored yet: the settle run commits or holds)."""
        outcome = next(iter(verdicts.values())).outcome
        self.observe.probe_result({**outcome.to_dict(), "scopes": sorted(verdicts)}, stored=False)
        self._verdicts.update(verdicts)
        self._wake.set()

    def _finished(self, report: RunReport) -> None:
        if report.result == "suspended":
            self._set_suspended(True, report.error)
            self._full_reason = "resume"
            self.ready = True
            return
        if not self.ready and self.api is not None:
            self.api.warm()  # the first page view need not wait for the index build
        self.ready = True
        self.last_run = {
            "at": utc_now(),
            "kind": report.kind,
            "result": report.result,
            "revision": report.revision,
            "durationMs": round(report.apply_ms, 1),
            "applied": len(report.written),
        }
        self._hand_over_probes(report)
        due = report.targets_due
        if self.targets is not None and due is not None and (due.targets or due.forget):
            self.targets.submit(
                due.targets, due.ids, due.scopes, drift=due.drift, forget=due.forget
            )
        next_in = human(max(self._next_resync - time.monotonic(), 0.0))
        took = human(report.apply_ms / 1000)
        self.log.info(
            "reconcile.finished",
            kind=report.kind,
            revision=report.revision,
            result=report.result,
            duration_ms=round(report.apply_ms, 1),
            apply_ms=round(report.apply_ms, 1),
            applied=len(report.written),
            probes_started=len(report.to_probe),
            message=f"Reconciliation finished in {took}, next run in {next_in}",
        )

    # ------------------------------------------------------------------ probes

    def _hand_over_probes(self, report: RunReport) -> None:
        """After the commit: the runner probes what changed, keeps its schedule for the rest."""
        for outcome in report.gate_probes:
            self.observe.probe_result(outcome, stored=False)
        if self.gate is not None:
            self.gate.submit(report.gate_pending)
        if self.probes is None:
            return
        self.probes.remove(report.drop, reason="pruned or held")
        self.probes.submit(report.to_probe)
        if report.sync is not None:
            self.probes.sync(report.sync)
        self.probes.track(report.gate_passed)

    # ------------------------------------------------------------------ leadership

    def on_leadership(self, leading: bool) -> None:
        """Became leader: reconcile everything now. Became standby: stop probing; the
        reconciles stop by themselves (the loop runs none, the store refuses writes)."""
        self._pause_probes()
        if leading:
            self._full_reason = self._full_reason or "takeover"
            self._retry_at = 0.0
            self._retry_delay = 2.0
        self._wake.set()

    def _pause_probes(self) -> None:
        if self.probes is not None:
            self.probes.pause(bool(self._suspended) or not self.leadership.leading)

    # ------------------------------------------------------------------ suspend

    async def _poll_suspension(self) -> None:
        try:
            version = await asyncio.to_thread(self.reader.data_version)
            if version == self._data_version and self._suspended is not None:
                return
            susp = await asyncio.to_thread(self.reader.suspension)
        except MailctlError as exc:
            self.log.warning("store.unreadable", error=f"{exc.stage}: {exc.message}")
            return
        self._data_version = version
        self._standby_ready = True
        self._set_suspended(susp.suspended, susp.reason)

    def _set_suspended(self, suspended: bool, reason: str | None) -> None:
        was = self._suspended
        self._suspended = suspended
        self.metrics.set_suspended(suspended)
        self._pause_probes()
        if suspended and not was:
            self.log.warning(
                "reconcile.suspended",
                reason=reason,
                message=f"Reconciliation suspended: {reason}; changes wait for 'mailctl resume'",
            )
            if self._full_reason == "start":
                self.ready = True  # nothing to do but wait; the daemon is serving
            self._full_reason = self._full_reason or "resume"
        elif was and not suspended:
            self.log.info("reconcile.resumed", message="Reconciliation resumed")
            self._full_reason = self._full_reason or "resume"
            self._wake.set()
