"""The daemon's probe runner: probes never block reconciliation (DESIGN §10).

It runs on the daemon's event loop, beside (never inside) the reconcile worker thread:
the worker commits settings and hands over what to probe; the runner probes in a pool
bounded overall and per SMTP host (:class:`~reconciler.probe.scheduler.Limiter`) and
stores each result in its own small transaction the moment that probe completes (through
a writer thread with its own store connection, :func:`reconciler.probing.probe_and_store`).

Scopes with identical effective settings share one **group** (``dedupe_key``): one probe
and one schedule. A group is due

- at once when one of its scopes' settings were just committed (:meth:`submit`);
- after ``interval_s`` (``--probe-interval``, default 6 h) when its last probe passed;
- after ``backoff_s`` (1 m, 5 m, 15 m, then hourly) when its last probes failed, counting
  consecutive failures (``temporary`` 4xx results included: a probe never retries itself).

A resync hands over every probe-able scope (:meth:`sync`): groups keep their schedule, new
ones start from the scope's last stored result, so a resync probes only what is due.
When a scope's settings change (or it is pruned or held), it leaves its group; a group
left empty has its probe in flight cancelled. A result is only ever stored on scopes whose
stored settings still match what was probed (checked inside the write transaction too).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reconciler.model import HOST_SCOPE
from reconciler.probe.scheduler import Limiter, dedupe_key
from reconciler.probing import ProbeOptions, ScopeProbe, Write, probe_and_store

BACKOFF_S: tuple[float, ...] = (60.0, 300.0, 900.0, 3600.0)
PROBE_INTERVAL_S = 6 * 3600.0
CLOSE_WAIT_S = 2.0

Key = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class ProbeSchedule:
    """When a group is probed again (pure; durations in seconds)."""

    interval_s: float = PROBE_INTERVAL_S
    backoff_s: tuple[float, ...] = BACKOFF_S

    def delay(self, passed: bool, failures: int) -> float:
        """Seconds until the next probe after a result; ``failures`` counts consecutive
        failed results including this one (1 → first backoff step, … last step repeats)."""
        if passed:
            return self.interval_s
        step = min(max(failures, 1), len(self.backoff_s)) - 1
        return self.backoff_s[step]

    def due_in(self, status: str | None, at: str | None, now_wall: float) -> float:
        """Seconds from now until a scope with this last stored result is due (≤ 0: due)."""
        if status is None or not at:
            return 0.0
        try:
            when = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0
        return when + self.delay(status == "passed", 1) - now_wall


@dataclass(eq=False, slots=True)
class _Group:
    key: Key
    due: float
    members: dict[str, ScopeProbe] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # live: read when a probe completes
    failures: int = 0
    seq: int = 0
    task: asyncio.Task[None] | None = None


def _scope_order(scope: str) -> tuple[int, str]:
    return (0 if scope == HOST_SCOPE else 1, scope)


class ProbeRunner:
    """Owns every probe of the daemon. All methods run on the event loop."""

    def __init__(
        self,
        *,
        options: ProbeOptions,
        schedule: ProbeSchedule,
        write: Write,
        on_result: Callable[[dict[str, Any]], None],
        log: Any,
    ) -> None:
        self.options = options
        self.schedule = schedule
        self._write = write
        self._on_result = on_result
        self.log = log
        self.limiter = Limiter(options.concurrency, options.per_host)
        self._groups: dict[Key, _Group] = {}
        self._where: dict[str, Key] = {}
        self._heap: list[tuple[float, int, Key]] = []
        self._seq = itertools.count(1)
        self._wake = asyncio.Event()
        self._paused = False
        self._dispatcher: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ inputs

    def submit(self, inputs: Iterable[ScopeProbe]) -> None:
        """Settings of these scopes were just committed: probe them now."""
        for item in inputs:
            self._place(item, force=True)
        self._wake.set()

    def track(self, inputs: Iterable[ScopeProbe]) -> None:
        """Schedule these scopes from their last result (a gate probe that just let their
        settings through): probed again when due, not now."""
        now_wall = time.time()
        for item in inputs:
            self._place(item, force=False, now_wall=now_wall)
        self._wake.set()

    def sync(self, inputs: Sequence[ScopeProbe]) -> None:
        """Every probe-able scope (a full reconcile): keep schedules, add what is new, drop
        what is gone (pruned, held, stalled)."""
        now_wall = time.time()
        for item in inputs:
            self._place(item, force=False, now_wall=now_wall)
        keep = {item.scope for item in inputs}
        self.remove((s for s in list(self._where) if s not in keep), reason="gone")
        self._wake.set()

    def remove(self, scopes: Iterable[str], reason: str = "removed") -> None:
        for scope in scopes:
            key = self._where.get(scope)
            if key is not None:
                self._leave(scope, key, reason)

    def pause(self, paused: bool) -> None:
        """While suspended no new probe starts (probes in flight finish)."""
        self._paused = paused
        self._wake.set()

    # ------------------------------------------------------------------ state

    def counts(self) -> dict[str, int]:
        running = sum(1 for g in self._groups.values() if g.task is not None)
        return {"groups": len(self._groups), "scopes": len(self._where), "running": running}

    def due_at(self, scope: str) -> float | None:
        """Monotonic time the scope's group is due (None: not scheduled or running)."""
        key = self._where.get(scope)
        group = self._groups.get(key) if key is not None else None
        return None if group is None or group.task is not None else group.due

    # ------------------------------------------------------------------ placement

    def _place(self, item: ScopeProbe, *, force: bool, now_wall: float | None = None) -> None:
        scope, key = item.scope, dedupe_key(item.target)
        old = self._where.get(scope)
        if old is not None and old != key:
            self._leave(scope, old, "settings changed")
            old = None
        now = time.monotonic()
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(key, due=now)
            if not force and item.last_status is not None:
                group.failures = 0 if item.last_status == "passed" else 1
        member = old is not None
        group.members[scope] = item
        group.tokens[scope] = item.token
        self._where[scope] = key
        if group.task is not None:
            return  # a probe of these very settings is in flight: the scope shares it
        if force:
            due = now
        elif member and group.seq:
            return  # already scheduled with its group
        else:
            wall = time.time() if now_wall is None else now_wall
            due = now + max(self.schedule.due_in(item.last_status, item.last_at, wall), 0.0)
            if group.seq and group.due <= due:
                return
        self._reschedule(group, due)

    def _leave(self, scope: str, key: Key, reason: str) -> None:
        group = self._groups[key]
        group.members.pop(scope, None)
        group.tokens.pop(scope, None)
        self._where.pop(scope, None)
        if group.members:
            return
        del self._groups[key]
        if group.task is not None:
            group.task.cancel()
            self.log.info(
                "probe.cancelled",
                scope=scope,
                reason=reason,
                message=f"{scope}: probe in flight cancelled ({reason}); its result is discarded",
            )

    def _reschedule(self, group: _Group, due: float) -> None:
        group.due = due
        group.seq = next(self._seq)
        heapq.heappush(self._heap, (due, group.seq, group.key))
        if len(self._heap) > 4 * len(self._groups) + 64:  # drop superseded entries
            self._heap = [
                (g.due, g.seq, g.key) for g in self._groups.values() if g.task is None and g.seq
            ]
            heapq.heapify(self._heap)

    # ------------------------------------------------------------------ running

    async def start(self) -> None:
        self._dispatcher = asyncio.create_task(self._dispatch(), name="probe-dispatch")

    async def _dispatch(self) -> None:
        while True:
            self._wake.clear()
            now = time.monotonic()
            timeout: float | None = None
            if not self._paused:
                while self._heap and self._heap[0][0] <= now:
                    _, seq, key = heapq.heappop(self._heap)
                    group = self._groups.get(key)
                    if group is None or group.seq != seq or group.task is not None:
                        continue
                    group.task = asyncio.create_task(self._run(group), name="probe")
                if self._heap:
                    timeout = max(self._heap[0][0] - now, 0.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    async def _run(self, group: _Group) -> None:
        members = sorted(group.members.values(), key=lambda m: _scope_order(m.scope))
        try:
            outcome, stored = await probe_and_store(
                [m.target for m in members],
                group.tokens,
                limiter=self.limiter,
                ca_file=self.options.ca_file,
                write=self._write,
            )
        except asyncio.CancelledError:
            group.task = None
            raise
        except Exception as exc:  # the store could not be written: try again later
            group.task = None
            group.failures += 1
            delay = self.schedule.delay(False, group.failures)
            if self._groups.get(group.key) is group:
                self._reschedule(group, time.monotonic() + delay)
            self.log.error(
                "probe.store_failed",
                scope=members[0].scope,
                error=f"{type(exc).__name__}: {exc}",
                message=f"probe result not stored; probing again in {delay:.0f}s",
            )
            self._wake.set()
            return
        group.task = None
        passed = outcome.result.passed
        group.failures = 0 if passed else group.failures + 1
        if self._groups.get(group.key) is group:
            self._reschedule(group, time.monotonic() + self.schedule.delay(passed, group.failures))
        self._wake.set()
        if stored:
            self._on_result({**outcome.to_dict(), "scopes": list(stored)})

    def _tasks(self) -> list[asyncio.Task[None]]:
        tasks = [g.task for g in self._groups.values() if g.task is not None]
        return tasks + ([self._dispatcher] if self._dispatcher is not None else [])

    def cancel(self) -> None:
        """Stop: cancel the dispatcher and every probe in flight (their results are lost)."""
        self._paused = True
        for task in self._tasks():
            task.cancel()

    async def close(self, timeout: float = CLOSE_WAIT_S) -> None:
        """:meth:`cancel`, then wait (bounded) for the cancelled tasks to unwind."""
        self.cancel()
        tasks = self._tasks()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
