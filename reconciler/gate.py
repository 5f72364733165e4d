"""The ``gate`` probe policy: a changed scope's new settings commit only once a probe of
them passes (DESIGN §4, §10).

Two ways to run it:

- **At once** (``mailctl apply --probe gate``): :func:`gate_now` probes every changed
  scope before the transaction; the ones that fail are held (``ProbeFailed``) at their
  previous settings, the others commit. The command waits for its probes anyway.
- **Deferred** (the daemon): :func:`defer` takes the changed scopes out of the commit —
  they keep their previous settings, marked ``GateProbing`` (Reconciling, not Stalled) —
  and returns them to be probed off the reconcile path, so a gate probe hanging on a
  silent server holds only its own scope: the rest of the batch commits now, and later
  edits apply within debounce + their own work. When a probe completes, its
  :class:`GateVerdict` (the settings token it tested and the outcome) goes into the next
  run: a scope whose desired settings still have that token commits (passed; the gate
  probe's result is stored as its probe result) or is held ``ProbeFailed``. A scope whose
  settings changed meanwhile is simply gated again with its new token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.desired import DesiredState, Held
from reconciler.plan import Action, Plan
from reconciler.probe.result import ProbeOutcome
from reconciler.probing import ProbeOptions, ScopeProbe, probe_inputs, run_probes, settings_token
from reconciler.progress import NULL, Progress
from reconciler.secrets import SecretCache

GATE_PENDING = "GateProbing"  # Held.reason of a scope waiting for its gate probe
GATE_FAILED = "ProbeFailed"


@dataclass(frozen=True, slots=True)
class GateVerdict:
    """A completed gate probe of one scope's settings (``token``: ``settings_token``)."""

    token: str
    outcome: ProbeOutcome

    @property
    def passed(self) -> bool:
        return self.outcome.result.passed


@dataclass(slots=True)
class Deferred:
    """What :func:`defer` decided for one run."""

    pending: list[ScopeProbe]  # to probe now (their settings are not committed)
    passed: dict[str, GateVerdict]  # commit these; store the verdict as their probe result


def candidates(plan: Plan, desired: DesiredState) -> list[str]:
    """Scopes whose settings this plan would write (created, updated, cascaded)."""
    return [
        c.scope
        for c in (*plan.changes, *plan.cascade)
        if c.action is not Action.DELETE and c.scope in desired.scopes
    ]


def _failed(scope: str, result: Mapping[str, Any], source_file: str | None) -> Held:
    return Held(
        scope,
        GATE_FAILED,
        f"gate probe failed: {result.get('class')} at {result.get('stage')}: "
        f"{result.get('message')}",
        source_file=source_file,
    )


def gate_now(
    plan: Plan,
    desired: DesiredState,
    secrets: SecretCache,
    opts: ProbeOptions,
    progress: Progress = NULL,
) -> dict[str, dict[str, Any]]:
    """Probe every candidate now; the results of those that failed, by scope."""
    outcomes = run_probes(
        desired.scopes, candidates(plan, desired), secrets, opts, progress=progress
    )
    return {s: o for o in outcomes for s in o["scopes"] if o.get("status") != "passed"}


def hold_failed(desired: DesiredState, failed: Mapping[str, Mapping[str, Any]]) -> None:
    """Take the scopes whose gate probe failed out of ``desired``: held ``ProbeFailed``."""
    for scope, result in failed.items():
        want = desired.scopes.pop(scope, None)
        desired.held[scope] = _failed(scope, result, want.source_file if want else None)


def defer(
    plan: Plan,
    desired: DesiredState,
    secrets: SecretCache,
    verdicts: Mapping[str, GateVerdict],
) -> Deferred:
    """Decide each candidate of ``plan`` against ``verdicts`` (changes ``desired``):
    a verdict for exactly these settings commits the scope (passed) or holds it
    ``ProbeFailed``; without one the scope waits, held ``GateProbing``, and is returned
    in ``pending`` to be probed."""
    passed: dict[str, GateVerdict] = {}
    waiting: list[str] = []
    for scope in candidates(plan, desired):
        want = desired.scopes[scope]
        verdict = verdicts.get(scope)
        if verdict is not None and verdict.token == settings_token(
            want.effective, want.fingerprint
        ):
            if verdict.passed:
                passed[scope] = verdict
            else:
                hold_failed(desired, {scope: verdict.outcome.to_dict()})
            continue
        waiting.append(scope)
    pending = probe_inputs(desired.scopes, waiting, secrets)
    for scope in waiting:
        want = desired.scopes.pop(scope)
        desired.held[scope] = Held(
            scope,
            GATE_PENDING,
            "gate probe of the new settings in flight; the previous settings stay until it passes",
            source_file=want.source_file,
        )
    return Deferred(pending, passed)
