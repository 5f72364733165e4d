"""Reconcile: desired state → plan → one store transaction → probes → store.

The probe step after the commit lives in :mod:`reconciler.probing` (shared with the
daemon, whose probe runner schedules the same per-group step instead of waiting for it).

The CLI's ``plan``/``apply``/``probe`` and the daemon all call these functions. Data flows
one way (DESIGN §6); the store transaction is the only place records change, and a run in
which nothing changed writes nothing.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from secrets import token_bytes
from typing import TYPE_CHECKING, Any, Literal

from reconciler import conditions as cond
from reconciler import gate
from reconciler.clock import utc_now
from reconciler.commit import DEFAULT_HISTORY_KEEP, Commit, LazyChanges, commit_with_history
from reconciler.desired import DesiredScope, DesiredState, Held, build_desired
from reconciler.errors import ExitCode
from reconciler.model import HOST_SCOPE, TARGET_PREFIX, Effective
from reconciler.plan import Action, Plan, ScopeChange, compute_plan
from reconciler.probing import (
    ProbeOptions,
    ScopeProbe,
    probe_after_commit,
    probe_inputs,
)
from reconciler.progress import NULL, Progress
from reconciler.secrets import SecretCache
from reconciler.store import HeldRecord, HistoryChange, ScopeRecord, StateStore, StoreTx
from reconciler.stored import Stored, full_record, read_current
from reconciler.validate import ValidationRun, validate_paths

if TYPE_CHECKING:
    from reconciler.targets.sync import SyncReport

ProbePolicy = Literal["after", "gate", "off"]

__all__ = ["ApplyResult", "ProbeOptions", "ProbePolicy", "apply_run", "plan_folder", "write_plan"]


@dataclass(slots=True)
class ApplyResult:
    revision: str
    plan: Plan
    written: list[str] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)
    probes: list[dict[str, Any]] = field(default_factory=list)
    to_probe: list[ScopeProbe] = field(default_factory=list)  # committed, not yet probed
    # Deferred gate (the daemon): changed scopes waiting for their gate probe, and those
    # a passed gate probe let through in this run (its result stored as their probe).
    gate_pending: list[ScopeProbe] = field(default_factory=list)
    gate_passed: dict[str, ScopeProbe] = field(default_factory=dict)
    history_id: int | None = None
    suspended: bool = False
    targets: SyncReport | None = None  # the targets' sync after the commit (DESIGN §12)

    @property
    def probes_failed(self) -> bool:
        return any(p.get("status") != "passed" for p in self.probes)

    @property
    def exit_code(self) -> ExitCode:
        if self.plan.set_error:
            return ExitCode.ERROR  # nothing applied: the set as a whole is invalid
        synced = self.targets is None or not self.targets.failed
        if self.held or self.plan.invalid_files or self.probes_failed or not synced:
            return ExitCode.DEGRADED
        return ExitCode.OK


def actor() -> str:
    who = os.environ.get("MAILCTL_ACTOR")
    if who:
        return who
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def plan_folder(
    store: StateStore | None,
    configs: Path,
    platform: Effective,
    environ: Mapping[str, str] | None = None,
    progress: Progress = NULL,
) -> tuple[Plan, DesiredState]:
    """``mailctl plan``: the configs folder against the store (read-only). Without a store
    everything would be created; secrets get a throwaway key (nothing to compare with)."""
    run = validate_paths([configs], progress=progress)
    progress.phase("planning")
    key = store.fingerprint_key() if store is not None else token_bytes(32)
    secrets = SecretCache(key, environ)
    current: Mapping[str, Stored]
    if store is not None:
        current, desired = _read_current(store, run, platform, secrets, None)
    else:
        current, desired = {}, build_desired(run, {}, platform, secrets)
    plan = compute_plan(current, desired)
    if store is not None and run.targets:
        plan = replace(plan, pending_syncs=_pending_syncs(store, run, current, desired, plan))
    return plan, desired


def _pending_syncs(
    store: StateStore,
    run: ValidationRun,
    current: Mapping[str, Stored],
    desired: DesiredState,
    plan: Plan,
) -> tuple[Any, ...]:
    """What the targets would receive once this plan is applied (no I/O but the store)."""
    from reconciler.targets.sync import pending, target_ids_of

    gone = {c.scope for c in plan.changes if c.action is Action.DELETE}
    after: dict[str, Any] = dict(desired.scopes)
    for scope in current:
        if scope not in after:
            after[scope] = current[scope]
    for scope in gone:
        after.pop(scope, None)
    states = store.target_states()
    return tuple(pending(run.targets, after, states, target_ids_of(run.manifests)))


def _record(
    want: DesiredScope,
    old: ScopeRecord | None,
    revision: str,
    now: str,
    effective_changed: bool,
    fresh: cond.Conditions | None = None,
) -> ScopeRecord:
    """The record written for ``want``; ``fresh``: ``cond.applied(revision)``, computed once
    per run and shared by every record written (records are values)."""
    keep_probe = old is not None and not effective_changed
    return ScopeRecord(
        scope=want.scope,
        mode=want.mode,
        spec=want.spec,
        effective=want.effective,
        sources=want.sources,
        fingerprint=want.fingerprint,
        source_file=want.source_file,
        last_applied_revision=revision,
        last_applied_at=now,
        last_attempted_revision=revision,
        last_attempted_at=now,
        conditions=(
            cond.settled(old.conditions, revision)
            if keep_probe and old is not None
            else (fresh if fresh is not None else cond.applied(revision))
        ),
        probe=old.probe if keep_probe and old is not None else None,
    )


def write_plan(
    tx: StoreTx,
    current: Mapping[str, Stored],
    desired: DesiredState,
    plan: Plan,
    *,
    revision: str,
    actor_name: str,
    kind: str = "apply",
    only: frozenset[str] | None = None,
    history_keep: int = DEFAULT_HISTORY_KEEP,
) -> tuple[list[str], int | None]:
    """Write a plan inside an open transaction; returns (scopes written, history id).

    ``only``: the scopes this run evaluated (``None``: all), as given to ``build_desired``."""
    now = utc_now()
    fresh = cond.applied(revision)

    def history_change(change: ScopeChange) -> HistoryChange:
        old = full_record(current, change.scope)
        if change.action is Action.DELETE:
            return HistoryChange(change.scope, old, None)
        want = desired.scopes[change.scope]
        new = _record(want, old, revision, now, change.effective_changed, fresh)
        return HistoryChange(change.scope, old, new)

    all_changes = (*plan.changes, *plan.cascade)
    history = LazyChanges(all_changes, history_change)  # records made as they are written
    changed = {c.scope for c in all_changes}
    # Unchanged scopes: only metadata that really differs (a cleared stall, a moved file).
    touch: list[ScopeRecord] = []
    for scope, want in desired.scopes.items():
        was = current.get(scope)
        if scope in changed or was is None:
            continue
        settled = cond.settled(was.conditions, was.last_applied_revision or revision)
        if settled != was.conditions or was.source_file != want.source_file:
            whole = full_record(current, scope)
            assert whole is not None
            touch.append(replace(whole, conditions=settled, source_file=want.source_file))
    for held in plan.held:
        was = current.get(held.scope)
        if was is None:
            continue
        stalled = cond.for_held(held.reason, held.message)
        if stalled != was.conditions or was.last_attempted_revision != revision:
            tx.set_conditions(held.scope, stalled, revision, now)
    s = plan.summary
    summary = (
        f"{s['create']} to create, {s['update']} to update, {s['delete']} to delete, "
        f"{len(plan.cascade)} cascaded"
    )
    commit = Commit(revision, actor_name, kind, summary, history, touch)
    history_id = commit_with_history(tx, commit, keep=history_keep)
    _sync_held(tx, current, desired, plan, revision, now, only)
    return sorted(changed), history_id


def _sync_held(
    tx: StoreTx,
    current: Mapping[str, Stored],
    desired: DesiredState,
    plan: Plan,
    revision: str,
    now: str,
    only: frozenset[str] | None,
) -> None:
    """Record what is held but was never applied (so ``status`` shows it), and forget what
    is no longer held or has been applied. Writes only real differences. A run that found
    the set as a whole invalid evaluated nothing: the rows stay as they are."""
    if plan.set_error:
        return
    want: dict[str, HeldRecord] = {}
    for held in plan.held:
        if held.scope in current or (only is not None and tx.get(held.scope) is not None):
            continue  # applied before: its record carries the Stalled condition
        want[held.scope] = HeldRecord(
            held.scope, "scope", held.reason, held.message, held.source_file, revision, now
        )
    files = [bad.scope for bad in plan.invalid_files]
    claimed = tx.claimed_files(files) if only is not None else set()
    for bad in plan.invalid_files:
        if bad.scope not in claimed:
            want[bad.scope] = HeldRecord(
                bad.scope, "file", bad.reason, bad.message, bad.source_file, revision, now
            )
    existing = tx.held()

    def evaluated(name: str, rec: HeldRecord) -> bool:
        return only is None or rec.kind == "file" or name in only or name in desired.held

    tx.drop_held(n for n, rec in existing.items() if n not in want and evaluated(n, rec))
    tx.put_held(rec for n, rec in want.items() if n not in existing or not existing[n].same_as(rec))


def apply_run(
    store: StateStore,
    run: ValidationRun,
    *,
    platform: Effective,
    revision: str,
    policy: ProbePolicy = "after",
    probe_options: ProbeOptions | None = None,
    environ: Mapping[str, str] | None = None,
    actor_name: str | None = None,
    only: frozenset[str] | None = None,
    progress: Progress = NULL,
    probe_now: bool = True,
    history_keep: int = DEFAULT_HISTORY_KEEP,
    sync_now: bool | None = None,
    gate_verdicts: Mapping[str, gate.GateVerdict] | None = None,
) -> ApplyResult:
    """Apply a validated folder: plan inside one transaction, write, then probe.

    ``only`` (the daemon's incremental path) restricts planning and writing to those scopes:
    pass the scopes of changed or removed files; the host is always included.
    ``progress`` hears the phases, ``committed`` right after the transaction (before any
    probe) and each probe outcome as it completes.
    After the commit, ``to_probe`` holds the written scopes to probe (unless the policy is
    ``off``); with ``probe_now`` they are probed here, each result stored as it completes;
    without, the caller schedules them (the daemon's probe runner). Only the newest
    ``history_keep`` history entries are kept. Then (``sync_now``, default ``probe_now``)
    every target receives the applied settings, with a drift check
    (:func:`sync_after_commit`); the daemon's target runner does that on its own thread.

    ``gate``: without ``gate_verdicts`` every changed scope is probed before the commit
    (:func:`reconciler.gate.gate_now`); with them (the daemon) the gate is deferred
    (:func:`reconciler.gate.defer`): changed scopes without a verdict wait in
    ``gate_pending``, the rest of the run commits now."""
    opts = probe_options or ProbeOptions()
    if only is not None:
        only = only | {HOST_SCOPE}
    secrets = SecretCache(store.fingerprint_key(), environ)
    who = actor_name or actor()
    gate_failed: dict[str, dict[str, Any]] = {}
    deferred: gate.Deferred | None = None
    gate_passed: dict[str, ScopeProbe] = {}
    if policy == "gate" and gate_verdicts is None:
        current, pre_desired = _read_current(store, run, platform, secrets, only)
        gate_failed = gate.gate_now(
            compute_plan(current, pre_desired), pre_desired, secrets, opts, progress
        )
        del current, pre_desired
    with store.transaction() as tx:
        current, desired = _read_current(tx, run, platform, secrets, only)
        gate.hold_failed(desired, gate_failed)
        if policy == "gate" and gate_verdicts is not None:
            pre_plan = compute_plan(current, desired)
            deferred = gate.defer(pre_plan, desired, secrets, gate_verdicts)
        plan = compute_plan(current, desired)
        progress.phase(f"applying {len(plan.changes) + len(plan.cascade):,} scopes")
        written, history_id = write_plan(
            tx,
            current,
            desired,
            plan,
            revision=revision,
            actor_name=who,
            only=only,
            history_keep=history_keep,
        )
        if deferred is not None:
            gate_passed = _store_gate_results(tx, desired, deferred.passed, secrets)
    applied = ApplyResult(revision, plan, written, list(plan.held), history_id=history_id)
    progress.committed(applied)
    if deferred is not None:
        applied.gate_pending = deferred.pending
        applied.gate_passed = gate_passed
    if policy != "off" and written:
        due = [s for s in written if s in desired.scopes and s not in applied.gate_passed]
        applied.to_probe = probe_inputs(desired.scopes, due, secrets)
        if probe_now:
            applied.probes = probe_after_commit(store, applied.to_probe, opts, progress=progress)
    if (probe_now if sync_now is None else sync_now) and not plan.set_error:
        applied.targets = sync_after_commit(store, run, secrets, opts.ca_file, revision, progress)
        if applied.targets is not None:
            progress.synced(applied.targets)
    return applied


def sync_after_commit(
    store: StateStore,
    run: ValidationRun,
    secrets: SecretCache,
    ca_file: str | None,
    revision: str,
    progress: Progress = NULL,
    *,
    drift: bool = True,
) -> SyncReport | None:
    """Targets next (after the probes): every target gets the applied settings; a failure
    sets the scopes' ``Synced/<target>`` False and never touches the applied settings."""
    if not run.targets and not store.target_states():
        return None
    from reconciler.targets.base import SyncContext
    from reconciler.targets.sync import sync_targets, target_ids_of

    progress.phase("syncing targets")
    ctx = SyncContext(secrets, ca_file=ca_file, revision=revision)
    complete = not any(c.target is None and c.scope is None for c in run.broken)
    complete = complete and not any((c.scope or "").startswith(TARGET_PREFIX) for c in run.broken)
    return sync_targets(
        store,
        run.targets,
        target_ids_of(run.manifests),
        ctx,
        drift=drift,
        forget_others=complete,
    )


def sync_rolled_back(
    store: StateStore,
    configs: Path,
    ca_file: str | None,
    environ: Mapping[str, str] | None = None,
    progress: Progress = NULL,
) -> SyncReport | None:
    """``rollback``'s post-commit step, apply's (:func:`sync_after_commit`): the targets
    (manifests and ``targetIds`` from the configs folder) receive the rolled-back applied
    settings; scopes the rollback removed are handed back like pruned ones. Only what
    changed is written (no drift reads: a rollback is urgent). ``None``: no target."""
    run = validate_paths([configs], progress=progress)
    secrets = SecretCache(store.fingerprint_key(), environ)
    revision = store.current_revision() or ""
    return sync_after_commit(store, run, secrets, ca_file, revision, progress, drift=False)


def _read_current(
    reader: StateStore | StoreTx,
    run: ValidationRun,
    platform: Effective,
    secrets: SecretCache,
    only: frozenset[str] | None,
) -> tuple[Mapping[str, Stored], DesiredState]:
    """The stored scopes and the desired state. Every scope (``only is None``): digests
    first, records only of the scopes that differ (:func:`reconciler.stored.read_current`);
    the daemon's ``only`` scopes: their records."""
    if only is None:
        return read_current(reader, lambda rows: build_desired(run, rows, platform, secrets))
    found = {s: reader.get(s) for s in sorted(only)}
    current = {s: rec for s, rec in found.items() if rec is not None}
    return current, build_desired(run, current, platform, secrets, only)


def _store_gate_results(
    tx: StoreTx,
    desired: DesiredState,
    passed: Mapping[str, gate.GateVerdict],
    secrets: SecretCache,
) -> dict[str, ScopeProbe]:
    """Store each passed gate probe, in the transaction that commits its settings, as the
    probe result of those settings; returns the scopes as probe inputs carrying that
    result (the daemon's runner schedules their next probe from it, not now)."""
    out: dict[str, ScopeProbe] = {}
    names = [s for s in passed if s in desired.scopes]
    for item in probe_inputs(desired.scopes, names, secrets):
        outcome = passed[item.scope].outcome
        result = outcome.result.to_dict()
        tx.set_probe_many((item.scope,), result)
        tx.set_conditions_many([(item.scope, cond.from_probe(result))])
        out[item.scope] = replace(item, last_status="passed", last_at=outcome.result.at)
    return out
