"""The daemon's gate probes (``--probe gate``): only the gated scope waits (DESIGN §10).

A reconcile run under ``gate`` commits everything but the changed scopes, which it hands
over as ``gate_pending`` (:func:`reconciler.gate.defer`). :class:`GateProbes` probes them
on the event loop, in the same bounded pool as every other probe (the runner's
:class:`~reconciler.probe.scheduler.Limiter`), one probe per group of identical settings,
and reports each completed probe as :class:`~reconciler.gate.GateVerdict` values, one per
scope; the loop then runs ``Engine.settle_gate`` with them, which commits or holds.

A scope gated again with other settings (an edit while its probe is in flight) leaves its
old probe — cancelled when nobody else waits for it — and gets a new one; gated again with
the same settings, it keeps the probe in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from reconciler.gate import GateVerdict
from reconciler.probe.scheduler import Limiter, dedupe_key, probe_group
from reconciler.probing import ScopeProbe

from .probes import ProbeRunner


class GateProbes:
    """Every gate probe in flight. All methods run on the event loop."""

    def __init__(
        self,
        *,
        limiter: Limiter,
        ca_file: str | None,
        on_verdicts: Callable[[dict[str, GateVerdict]], None],
        log: Any,
    ) -> None:
        self.limiter = limiter
        self.ca_file = ca_file
        self._on_verdicts = on_verdicts
        self.log = log
        # scope -> (token, the members dict of its probe's task); a task reports only the
        # scopes still in its members dict when it completes.
        self._waiting: dict[str, tuple[str, dict[str, str]]] = {}
        self._tasks: dict[asyncio.Task[None], dict[str, str]] = {}

    @classmethod
    def beside(
        cls, runner: ProbeRunner, on_verdicts: Callable[[dict[str, GateVerdict]], None]
    ) -> GateProbes:
        """Gate probes sharing ``runner``'s pool, CA file and log."""
        return cls(
            limiter=runner.limiter,
            ca_file=runner.options.ca_file,
            on_verdicts=on_verdicts,
            log=runner.log,
        )

    def submit(self, inputs: Iterable[ScopeProbe]) -> None:
        groups: dict[tuple[Any, ...], list[ScopeProbe]] = {}
        for item in inputs:
            had = self._waiting.get(item.scope)
            if had is not None and had[0] == item.token:
                continue  # these very settings are being probed
            if had is not None:
                self._leave(item.scope)
            groups.setdefault(dedupe_key(item.target), []).append(item)
        for members in groups.values():
            tokens = {m.scope: m.token for m in members}
            task = asyncio.create_task(self._run(members, tokens), name="gate-probe")
            self._tasks[task] = tokens
            task.add_done_callback(self._tasks.pop)
            for m in members:
                self._waiting[m.scope] = (m.token, tokens)

    def _leave(self, scope: str) -> None:
        _, tokens = self._waiting.pop(scope)
        tokens.pop(scope, None)
        if tokens:
            return
        for task, members in self._tasks.items():
            if members is tokens:
                task.cancel()
                self.log.info(
                    "probe.cancelled",
                    scope=scope,
                    reason="settings changed",
                    message=f"{scope}: gate probe in flight cancelled (settings changed)",
                )
                break

    async def _run(self, members: Sequence[ScopeProbe], tokens: dict[str, str]) -> None:
        outcome = await probe_group([m.target for m in members], self.limiter, self.ca_file)
        verdicts = {}
        for scope, token in tokens.items():
            verdicts[scope] = GateVerdict(token, outcome)
            if self._waiting.get(scope, (None, None))[1] is tokens:
                del self._waiting[scope]
        if verdicts:
            self._on_verdicts(verdicts)

    def counts(self) -> dict[str, int]:
        return {"scopes": len(self._waiting), "running": len(self._tasks)}

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def close(self, timeout: float = 2.0) -> None:
        self.cancel()
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
