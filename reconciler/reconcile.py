"""Reconcile: desired state → plan → one store transaction → probes → store.

The CLI's ``plan``/``apply``/``probe`` and the daemon all call these functions. Data flows
one way (DESIGN §6); the store transaction is the only place records change, and a run in
which nothing changed writes nothing.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from secrets import token_bytes
from typing import Any, Literal

from reconciler import conditions as cond
from reconciler.desired import DesiredScope, DesiredState, Held, build_desired
from reconciler.errors import ExitCode
from reconciler.model import HOST_SCOPE, Effective
from reconciler.plan import Action, Plan, compute_plan
from reconciler.progress import NULL, Progress
from reconciler.secrets import IMAP_PASSWORD_FIELD, SecretCache, secret_owner
from reconciler.store import HeldRecord, HistoryChange, ScopeRecord, Store, Tx, utc_now
from reconciler.validate import ValidationRun, validate_paths

ProbePolicy = Literal["after", "gate", "off"]


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    ca_file: str | None = None
    concurrency: int = 32
    per_host: int = 4
    retries: int = 3
    backoff_base_s: float = 0.5


@dataclass(slots=True)
class ApplyResult:
    revision: str
    plan: Plan
    written: list[str] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)
    probes: list[dict[str, Any]] = field(default_factory=list)
    history_id: int | None = None
    suspended: bool = False

    @property
    def probes_failed(self) -> bool:
        return any(p.get("status") != "passed" for p in self.probes)

    @property
    def exit_code(self) -> ExitCode:
        if self.plan.set_error:
            return ExitCode.ERROR  # nothing applied: the set as a whole is invalid
        if self.held or self.plan.invalid_files or self.probes_failed:
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
    store: Store | None,
    configs: Path,
    platform: Effective,
    environ: Mapping[str, str] | None = None,
    progress: Progress = NULL,
) -> tuple[Plan, DesiredState]:
    """``mailctl plan``: the configs folder against the store (read-only). Without a store
    everything would be created; secrets get a throwaway key (nothing to compare with)."""
    run = validate_paths([configs], progress=progress)
    progress.phase("planning")
    current = store.scopes() if store is not None else {}
    key = store.fingerprint_key() if store is not None else token_bytes(32)
    secrets = SecretCache(key, environ)
    desired = build_desired(run, current, platform, secrets)
    return compute_plan(current, desired), desired


def _record(
    want: DesiredScope, old: ScopeRecord | None, revision: str, now: str, effective_changed: bool
) -> ScopeRecord:
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
            else cond.applied(revision)
        ),
        probe=old.probe if keep_probe and old is not None else None,
    )


def write_plan(
    tx: Tx,
    current: Mapping[str, ScopeRecord],
    desired: DesiredState,
    plan: Plan,
    *,
    revision: str,
    actor_name: str,
    kind: str = "apply",
    only: frozenset[str] | None = None,
) -> tuple[list[str], int | None]:
    """Write a plan inside an open transaction; returns (scopes written, history id).

    ``only``: the scopes this run evaluated (``None``: all), as given to ``build_desired``."""
    now = utc_now()
    upserts: list[ScopeRecord] = []
    deletes: list[str] = []
    history: list[HistoryChange] = []
    for change in (*plan.changes, *plan.cascade):
        old = current.get(change.scope)
        if change.action is Action.DELETE:
            deletes.append(change.scope)
            history.append(HistoryChange(change.scope, old, None))
            continue
        new = _record(desired.scopes[change.scope], old, revision, now, change.effective_changed)
        upserts.append(new)
        history.append(HistoryChange(change.scope, old, new))
    changed = {c.scope for c in (*plan.changes, *plan.cascade)}
    # Unchanged scopes: only metadata that really differs (a cleared stall, a moved file).
    for scope, want in desired.scopes.items():
        old = current.get(scope)
        if scope in changed or old is None:
            continue
        settled = cond.settled(old.conditions, old.last_applied_revision or revision)
        if settled != old.conditions or old.source_file != want.source_file:
            upserts.append(replace(old, conditions=settled, source_file=want.source_file))
    for held in plan.held:
        old = current.get(held.scope)
        if old is None:
            continue
        stalled = cond.stalled(held.reason, held.message)
        if stalled != old.conditions or old.last_attempted_revision != revision:
            tx.set_conditions(held.scope, stalled, revision, now)
    if upserts:
        tx.upsert_many(upserts)
    if deletes:
        tx.delete_many(deletes)
    _sync_held(tx, current, desired, plan, revision, now, only)
    history_id = None
    if history:
        s = plan.summary
        summary = (
            f"{s['create']} to create, {s['update']} to update, {s['delete']} to delete, "
            f"{len(plan.cascade)} cascaded"
        )
        history_id = tx.record_history(
            revision=revision, actor=actor_name, kind=kind, summary=summary, changes=history
        )
        tx.set_current_revision(revision)
    return sorted(changed), history_id


def _sync_held(
    tx: Tx,
    current: Mapping[str, ScopeRecord],
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
    store: Store,
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
) -> ApplyResult:
    """Apply a validated folder: plan inside one transaction, write, then probe.

    ``only`` (the daemon's incremental path) restricts planning and writing to those scopes:
    pass the scopes of changed or removed files; the host is always included.
    ``progress`` hears the phases, ``committed`` right after the transaction (before any
    probe) and each probe outcome as it completes."""
    opts = probe_options or ProbeOptions()
    if only is not None:
        only = only | {HOST_SCOPE}
    secrets = SecretCache(store.fingerprint_key(), environ)
    who = actor_name or actor()
    gate_failed: dict[str, dict[str, Any]] = {}
    if policy == "gate":
        current = _current(store, only)
        pre_desired = build_desired(run, current, platform, secrets, only)
        gate_failed = _gate(
            compute_plan(current, pre_desired), pre_desired, secrets, opts, progress
        )
    with store.transaction() as tx:
        current = _current(tx, only)
        desired = build_desired(run, current, platform, secrets, only)
        for scope, result in gate_failed.items():
            want = desired.scopes.pop(scope, None)
            desired.held[scope] = Held(
                scope,
                "ProbeFailed",
                f"gate probe failed: {result.get('class')} at {result.get('stage')}: "
                f"{result.get('message')}",
                source_file=want.source_file if want is not None else None,
            )
        plan = compute_plan(current, desired)
        progress.phase(f"applying {len(plan.changes) + len(plan.cascade):,} scopes")
        written, history_id = write_plan(
            tx, current, desired, plan, revision=revision, actor_name=who, only=only
        )
    applied = ApplyResult(revision, plan, written, list(plan.held), history_id=history_id)
    progress.committed(applied)
    if policy != "off" and written:
        targets = [s for s in written if s in desired.scopes]
        applied.probes = probe_and_record(
            store, desired.scopes, targets, secrets, opts, progress=progress
        )
    return applied


def _current(reader: Store | Tx, only: frozenset[str] | None) -> dict[str, ScopeRecord]:
    if only is None:
        return reader.scopes()
    found = {s: reader.get(s) for s in sorted(only)}
    return {s: rec for s, rec in found.items() if rec is not None}


def _gate(
    plan: Plan,
    desired: DesiredState,
    secrets: SecretCache,
    opts: ProbeOptions,
    progress: Progress = NULL,
) -> dict[str, dict[str, Any]]:
    scopes = [
        c.scope
        for c in (*plan.changes, *plan.cascade)
        if c.action is not Action.DELETE and c.scope in desired.scopes
    ]
    outcomes = run_probes(desired.scopes, scopes, secrets, opts, progress=progress)
    return {s: o for o in outcomes for s in o["scopes"] if o.get("status") != "passed"}


def run_probes(
    scopes: Mapping[str, DesiredScope | ScopeRecord],
    names: Sequence[str],
    secrets: SecretCache,
    opts: ProbeOptions,
    *,
    progress: Progress = NULL,
) -> list[dict[str, Any]]:
    """Probe the named scopes' effective settings (deduplicated); outcome dicts.
    ``progress`` hears ``probing N/total`` and each outcome as its probe completes."""
    from reconciler.errors import SecretError
    from reconciler.probe.result import ProbeOutcome, ProbeTarget
    from reconciler.probe.scheduler import group_targets, probe_outcomes

    targets = []
    for name in names:
        item = scopes[name]
        settings = Effective.from_flat(item.effective)
        password = error = None
        auth = settings.smtp.auth
        if auth is not None:
            try:
                password = secrets.value(auth.password, secret_owner(name, item.sources))
            except SecretError as exc:
                error = exc.message
        imap_password = imap_error = None
        imap = settings.confirm.imap if settings.confirm else None
        if imap is not None:
            try:
                owner = secret_owner(name, item.sources, IMAP_PASSWORD_FIELD)
                imap_password = secrets.value(imap.password, owner)
            except SecretError as exc:
                imap_error = exc.message
        targets.append(
            ProbeTarget(
                name, settings, password, error, item.fingerprint, imap_password, imap_error
            )
        )
    if not targets:
        return []
    progress.phase("probing", len(group_targets(targets)))

    def completed(outcome: ProbeOutcome) -> None:
        progress.step()
        progress.probed(outcome.to_dict())

    outcomes = asyncio.run(
        probe_outcomes(
            targets,
            ca_file=opts.ca_file,
            concurrency=opts.concurrency,
            per_host=opts.per_host,
            retries=opts.retries,
            backoff_base_s=opts.backoff_base_s,
            on_outcome=completed,
        )
    )
    return [o.to_dict() for o in outcomes]


def record_probes(store: Store, outcomes: Sequence[dict[str, Any]]) -> None:
    """Store each outcome on its scopes and turn Ready on or off accordingly."""
    with store.transaction() as tx:
        for outcome in outcomes:
            result = {k: v for k, v in outcome.items() if k != "scopes"}
            conditions = cond.from_probe(result)
            tx.set_probe_many(outcome["scopes"], result)
            tx.set_conditions_many((scope, conditions) for scope in outcome["scopes"])


def probe_and_record(
    store: Store,
    scopes: Mapping[str, DesiredScope | ScopeRecord],
    names: Sequence[str],
    secrets: SecretCache,
    opts: ProbeOptions,
    *,
    progress: Progress = NULL,
) -> list[dict[str, Any]]:
    outcomes = run_probes(scopes, names, secrets, opts, progress=progress)
    if outcomes:
        record_probes(store, outcomes)
    return outcomes
