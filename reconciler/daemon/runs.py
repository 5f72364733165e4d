"""Reconcile runs of the daemon on the core functions (runs in the worker thread).

- ``full(kind)``: re-read every file, ``apply_run`` with ``only=None``; the report also
  carries every probe-able scope (``sync``) so the probe runner can re-plan its schedule.
- ``incremental(paths)``: re-check only the changed files, combine the cached checks and
  ``apply_run(..., only=affected scopes)``. A host change, or set-wide errors appearing,
  changing or disappearing, turns it into a full run.

Nothing here probes after the commit: ``apply_run(probe_now=False)`` returns what to probe
(``to_probe``) and the loop hands it to the probe runner (:mod:`.probes`), so a probe never
holds the worker. ``gate`` probes before the commit inside ``apply_run``.
"""

from __future__ import annotations

import time
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler import conditions as cond
from reconciler.commit import DEFAULT_HISTORY_KEEP
from reconciler.desired import Held
from reconciler.errors import SecretError
from reconciler.events import MAX_LISTED, log_apply, log_invalid
from reconciler.gate import GATE_PENDING, GateVerdict
from reconciler.gitwatch import RevisionTracker
from reconciler.model import ORG_PREFIX, TARGET_PREFIX, Effective, SecretRef
from reconciler.plan import Action
from reconciler.probing import ScopeProbe, probe_inputs
from reconciler.reconcile import ApplyResult, ProbeOptions, ProbePolicy, apply_run
from reconciler.secrets import SecretCache, shorter_prefix_orgs
from reconciler.store import StateStore
from reconciler.targets.manifest import TargetManifest
from reconciler.targets.state import by_scope, with_sync
from reconciler.targets.sync import target_ids_of
from reconciler.validate import FileCheck, ValidationRun

from .cache import Delta, ManifestCache, set_error_key
from .metrics import DaemonMetrics


@dataclass(slots=True)
class RunReport:
    kind: str
    revision: str | None = None
    result: str = "success"  # success | held | failed | suspended | noop
    apply_ms: float = 0.0
    written: list[str] = field(default_factory=list)
    to_probe: list[ScopeProbe] = field(default_factory=list)  # just committed: probe now
    drop: list[str] = field(default_factory=list)  # pruned or held: stop probing
    sync: list[ScopeProbe] | None = None  # full runs: every probe-able scope
    gate_probes: list[dict[str, Any]] = field(default_factory=list)  # gate, before commit
    gate_pending: list[ScopeProbe] = field(default_factory=list)  # gate: probe, then settle
    gate_passed: list[ScopeProbe] = field(default_factory=list)  # gate: committed + probed
    error: str | None = None
    # what the target runner should sync after this commit (None: nothing, no targets)
    targets_due: TargetsDue | None = None


@dataclass(frozen=True, slots=True)
class TargetsDue:
    targets: tuple[TargetManifest, ...]
    ids: dict[str, dict[str, str]]
    scopes: frozenset[str] | None  # None: every scope
    drift: bool  # compare with the targets (resync)
    forget: bool  # drop the state of removed targets and pruned scopes


class Engine:
    def __init__(
        self,
        store: StateStore,
        configs: Path,
        *,
        platform: Effective,
        policy: ProbePolicy,
        probe_options: ProbeOptions,
        metrics: DaemonMetrics,
        redact: Any,
        log: Any,
        revision: str | None = None,
        history_keep: int = DEFAULT_HISTORY_KEEP,
    ) -> None:
        self.store = store
        self.history_keep = history_keep
        self.configs = configs
        self.platform = platform
        self.policy = policy
        self.probe_options = probe_options
        self.metrics = metrics
        self.redact = redact  # Redactor: gets every secret value the run can resolve
        self.log = log
        self.fixed_revision = revision
        self.revisions = RevisionTracker(configs)  # git asked about what changed only
        self._revision_warned: str | None = None
        # Scopes held by the last runs (also those never applied: not in the store), so the
        # metrics count them as not Ready.
        self._held: dict[str, dict[str, Any]] = {}
        self.cache = ManifestCache(configs)
        self.warm = False  # a standby parsed every manifest (keep_warm) and keeps them current
        self._scanned = False  # the cache has held every manifest once (a full run)
        self._set_key: tuple[tuple[str, str, str], ...] | None = None
        self._key = store.fingerprint_key()
        self.cache.seed_scopes(
            {r.source_file: s for s, r in store.scopes().items() if r.source_file}
        )
        self._register_platform_secret()

    # ------------------------------------------------------------------ runs

    def full(self, kind: str) -> RunReport:
        t0 = time.perf_counter()
        report = RunReport(kind)
        if self._suspended(report):
            return report
        self.revisions.note(None)  # start, resync, takeover: ask git about everything
        if self.warm:  # a standby kept the cache (keep_warm): re-read what changed since
            delta = self.cache.refresh([str(self.configs)])
            self.log.info(
                "reconcile.warm_start",
                kind=kind,
                changed=len(delta.changed),
                removed=len(delta.removed),
                message="Taking over with the manifests a standby kept parsed",
            )
        else:
            self.cache.full_scan()
        self.warm, self._scanned = False, True
        run = self.cache.combine()
        self._register_secrets(run.checks, run)
        log_invalid(self.log, run.broken, run.set_errors)
        self._set_key = set_error_key(run.set_errors, run.broken)
        self._apply(report, run, None, t0, affected=None)
        if report.result != "failed" and self.policy != "off":
            report.sync = self._probe_able()
        self._refresh_ready(None)
        return report

    def keep_warm(self, paths: Iterable[str]) -> None:
        """Standby (another daemon leads): keep the parsed manifests current, all of them
        the first time, then the changed ``paths``; nothing is applied."""
        if self.warm:
            self.cache.refresh(paths)
            return
        t0 = time.perf_counter()
        # An ex-leader's cache already holds every manifest: re-read only what changed.
        ex_leader = self._scanned
        delta = self.cache.refresh([str(self.configs)]) if ex_leader else self.cache.full_scan()
        self.warm = True
        self.log.info(
            "standby.warmed",
            files=len(self.cache.entries),
            parsed=len(delta.changed),
            ex_leader=ex_leader,
            duration_ms=round((time.perf_counter() - t0) * 1000, 1),
            message="Standby: every manifest is parsed; a takeover re-reads only changes",
        )

    def incremental(self, paths: Iterable[str]) -> RunReport | None:
        """Apply a batch of changed paths; ``None`` when no manifest actually changed."""
        t0 = time.perf_counter()
        report = RunReport("incremental")
        paths = list(paths)
        self.revisions.note(paths)
        delta: Delta = self.cache.refresh(paths)
        if delta.empty:
            return None
        if self._suspended(report):
            return report
        run = self.cache.combine()
        self._register_secrets(delta.checks, run)
        key = set_error_key(run.set_errors, run.broken)
        full = delta.host or key != self._set_key or bool(run.set_errors) or not run.checks
        self._set_key = key
        log_invalid(self.log, [c for c in delta.checks if not c.ok], run.set_errors)
        # An org appearing or going away changes who owns variables with its prefix.
        rivals = shorter_prefix_orgs(delta.scopes, run.scope_names())
        only = None if full else frozenset(delta.scopes | rivals)
        if full:
            report.kind = "full"
        affected = set(only) if only is not None else None
        self._apply(report, run, only, t0, affected=affected)
        self._refresh_ready(None if affected is None else affected | set(report.written))
        return report

    # ------------------------------------------------------------------ pieces

    def _suspended(self, report: RunReport) -> bool:
        susp = self.store.suspension()
        self.metrics.set_suspended(susp.suspended)
        if susp.suspended:
            report.result = "suspended"
            report.error = susp.reason
        return susp.suspended

    def _revision(self) -> str:
        """``--revision``, else git's; when git cannot tell, one ``revision.unversioned``
        warning per distinct reason (not one per reconcile)."""
        if self.fixed_revision:
            return self.fixed_revision
        rev = self.revisions.read()
        if rev.reason is not None and rev.reason != self._revision_warned:
            self.log.warning(
                "revision.unversioned",
                revision=rev.id,
                reason=rev.reason,
                hint=rev.hint,
                message=rev.warning,
            )
        self._revision_warned = rev.reason
        return rev.id

    def _apply(
        self,
        report: RunReport,
        run: ValidationRun,
        only: frozenset[str] | None,
        t0: float,
        *,
        affected: set[str] | None,
        verdicts: Mapping[str, GateVerdict] | None = None,
    ) -> None:
        report.revision = self._revision()
        self.log.info(
            "reconcile.started",
            kind=report.kind,
            revision=report.revision,
            scopes=len(only) if only is not None else None,
        )
        result = apply_run(
            self.store,
            run,
            platform=self.platform,
            revision=report.revision,
            policy=self.policy,
            probe_options=self.probe_options,
            only=only,
            probe_now=False,
            # gate: deferred, so a gate probe never holds this run (DESIGN §10)
            gate_verdicts=(verdicts or {}) if self.policy == "gate" else None,
            history_keep=self.history_keep,
        )
        report.apply_ms = (time.perf_counter() - t0) * 1000
        report.written = list(result.written)
        held = _held_in(result.plan.held, affected)
        dropped = [h.scope for h in held]
        gating = [h.scope for h in held if h.reason == GATE_PENDING]
        held = [h for h in held if h.reason != GATE_PENDING]
        if affected is None:
            self._held = {}
        else:
            for scope in affected:
                self._held.pop(scope, None)
        self._held.update({h.scope: cond.for_held(h.reason, h.message) for h in result.plan.held})
        if gating:
            self.log.info(
                "gate.probing",
                scopes=gating[:MAX_LISTED],
                count=len(gating),
                revision=report.revision,
                message=f"{len(gating)} changed scope(s) wait for their gate probe; the rest "
                "is applied",
            )
        if result.plan.set_error:
            report.result = "failed"
            report.error = _set_error_message(run, result)
        elif held:
            report.result = "held"
        log_apply(self.log, result, report.revision, held, report.error)
        self.metrics.observe_reconcile(report.kind, report.apply_ms / 1000, report.result)
        report.gate_probes = list(result.probes)  # gate: apply_run probed before the commit
        report.to_probe = list(result.to_probe)
        report.gate_pending = list(result.gate_pending)
        report.gate_passed = list(result.gate_passed.values())
        report.drop = [c.scope for c in result.plan.changes if c.action is Action.DELETE]
        report.drop += dropped
        if not result.plan.set_error:
            report.targets_due = _targets_due(run, report, affected)

    def settle_gate(self, verdicts: Mapping[str, GateVerdict]) -> RunReport:
        """Gate probes completed: commit the scopes whose probe passed (if their settings
        are still the ones probed), hold those that failed, gate the changed ones again."""
        t0 = time.perf_counter()
        report = RunReport("gate")
        if self._suspended(report):
            return report
        run = self.cache.combine()
        scopes = set(verdicts)
        self._apply(report, run, frozenset(scopes), t0, affected=scopes, verdicts=verdicts)
        self._refresh_ready(scopes | set(report.written))
        return report

    def _probe_able(self) -> list[ScopeProbe]:
        """Every stored scope the runner should keep probing (stalled ones excluded)."""
        records = self.store.scopes()
        names = [
            s
            for s, r in records.items()
            if not cond.is_stalled(r.conditions) and not cond.is_gating(r.conditions)
        ]
        return probe_inputs(records, names, SecretCache(self._key, redactor=self.redact))

    def _refresh_ready(self, scopes: set[str] | None) -> None:
        """Feed the metrics every scope's conditions: the store's records, and held scopes
        that have no record (held before their first apply) as not Ready."""
        if scopes is None:  # conditions only: no spec, settings or sources decoded
            rows = self.store.status_snapshot().statuses
            synced = by_scope(self.store.target_states())
            conditions = {r.scope: with_sync(r.conditions, synced.get(r.scope, ())) for r in rows}
            for scope, held in self._held.items():
                conditions.setdefault(scope, held)
            self.metrics.set_conditions(conditions, replace=True)
        else:
            gone = []
            conditions = {}
            synced = by_scope(self.store.target_states(scopes))
            for s in scopes:
                rec = self.store.get(s)
                if rec is not None:
                    conditions[s] = with_sync(rec.conditions, synced.get(s, ()))
                elif s in self._held:
                    conditions[s] = self._held[s]
                else:
                    gone.append(s)
            self.metrics.drop_scopes(gone)
            self.metrics.set_conditions(conditions)
        self.metrics.set_revision(self.store.current_revision())

    # ------------------------------------------------------------------ secrets

    def _register_platform_secret(self) -> None:
        auth = self.platform.smtp.auth
        if auth is not None:
            self._resolve_into_redactor([(auth.password, None)])

    def _register_secrets(self, checks: Iterable[FileCheck], run: ValidationRun) -> None:
        refs: set[tuple[SecretRef, str | None]] = set()
        for check in checks:
            m = check.manifest
            if m is not None and m.spec.smtp is not None and m.spec.smtp.auth is not None:
                owner = m.scope[len(ORG_PREFIX) :] if m.scope.startswith(ORG_PREFIX) else None
                refs.add((m.spec.smtp.auth.password, owner))
            if m is not None and m.spec.confirm is not None and m.spec.confirm.imap is not None:
                owner = m.scope[len(ORG_PREFIX) :] if m.scope.startswith(ORG_PREFIX) else None
                refs.add((m.spec.confirm.imap.password, owner))
        self._resolve_into_redactor(refs, run.scope_names())

    def _resolve_into_redactor(
        self, refs: Iterable[tuple[SecretRef, str | None]], known: Container[str] = ()
    ) -> None:
        """Resolve (under the tenant rules: a forbidden secret is never read) so that the
        redactor knows every value before any server text arrives."""
        secrets = SecretCache(self._key, redactor=self.redact)
        secrets.know(known)
        for ref, owner in refs:
            try:
                secrets.value(ref, owner)
            except SecretError:
                continue


def _targets_due(run: ValidationRun, report: RunReport, affected: set[str] | None) -> TargetsDue:
    """Full runs sync every scope (a resync or the start also checks for drift); an
    incremental run the scopes it wrote or touched, or all of them when a target changed."""
    full = affected is None or any(s.startswith(TARGET_PREFIX) for s in affected)
    scopes = None if full else frozenset(set(report.written) | set(affected or ()))
    complete = not any(c.scope is None or c.scope.startswith(TARGET_PREFIX) for c in run.broken)
    targets, forget = tuple(run.targets), full and complete
    if not targets and not forget:  # nothing to sync: no pass over every org's targetIds
        ids: dict[str, dict[str, str]] = {}
    elif run.target_ids is not None:  # the cache's index (a C-level copy for the thread)
        ids = dict(run.target_ids)
    else:
        ids = target_ids_of(run.manifests)
    return TargetsDue(
        targets,
        ids,
        scopes,
        drift=report.kind not in ("incremental", "full"),  # start, resync, resume: check
        forget=forget,
    )


def _held_in(held: Iterable[Held], affected: set[str] | None) -> list[Held]:
    return [h for h in held if affected is None or h.scope in affected]


def _set_error_message(run: ValidationRun, result: ApplyResult) -> str:
    if run.set_errors:
        d = run.set_errors[0]
        return f"{d.file}:{d.line}:{d.column}: {d.message} [{d.rule}]"
    if not run.checks:
        return "no manifests found in the configs folder; refusing to prune anything"
    first = result.plan.held[0] if result.plan.held else None
    return first.message if first else "the manifest set is invalid"
