"""The sync engine: applied scopes → what each target should hold → work → sync state.

:func:`sync_targets` runs after the settings commit (CLI ``apply``, the daemon's target
runner) and at resync. For each target it compares every scope's :class:`Want` with the
stored :class:`SyncState` of the last sync and hands the targets only what is due: new or
moved scopes, changed values, a rotated secret, a failed last attempt, or (``drift``) every
synced scope for a comparison with the server. A scope that left the store (a pruned org)
is handed over once more (:func:`plan_removed`: Orchestrator gets what it inherits, a
webhook a ``deleted`` document) and its state is forgotten only once that succeeded; its
partition is the one the state remembers. States are written in one small
transaction afterwards; a failure never touches the applied settings.

:func:`pending` answers ``plan``'s question (what a sync would do) without any I/O.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.model import HOST_SCOPE, ORG_PREFIX
from reconciler.store import ScopeRecord, StateStore, utc_now

from .base import Outcome, SyncContext, Target, Want, Work
from .manifest import TargetManifest
from .registry import build_all
from .state import FAILED, SKIPPED, SYNCED, SyncState

TargetIds = Mapping[str, Mapping[str, str]]  # org scope -> metadata.targetIds


@dataclass(slots=True)
class TargetReport:
    target: str
    kind: str
    synced: list[str] = field(default_factory=list)  # scopes written or checked now
    written: dict[str, tuple[str, ...]] = field(default_factory=dict)  # scope -> keys
    drift: dict[str, tuple[str, ...]] = field(default_factory=dict)
    failed: list[Outcome] = field(default_factory=list)
    skipped: int = 0  # PlatformDefault
    up_to_date: int = 0  # nothing due
    removed: list[str] = field(default_factory=list)  # pruned scopes settled (then forgotten)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "kind": self.kind,
            "synced": len(self.synced),
            "written": {s: list(k) for s, k in sorted(self.written.items())},
            "drift": {s: list(k) for s, k in sorted(self.drift.items())},
            "failed": [
                {"scope": o.scope, "reason": o.reason, "message": o.message} for o in self.failed
            ],
            "skipped": self.skipped,
            "upToDate": self.up_to_date,
            **({"removed": sorted(self.removed)} if self.removed else {}),
        }


@dataclass(slots=True)
class SyncReport:
    targets: list[TargetReport] = field(default_factory=list)
    duration_s: float = 0.0
    requests: dict[str, int] = field(default_factory=dict)  # "PUT 2xx" -> n

    @property
    def failed(self) -> bool:
        return any(t.failed for t in self.targets)

    def to_dict(self) -> dict[str, Any]:
        return {
            "targets": [t.to_dict() for t in self.targets],
            "duration_ms": round(self.duration_s * 1000, 1),
            "requests": dict(sorted(self.requests.items())),
        }


def target_ids_of(manifests: Iterable[Any]) -> dict[str, dict[str, str]]:
    """``metadata.targetIds`` of every readable org manifest (``Manifest`` values)."""
    return {m.scope: dict(m.target_ids) for m in manifests if m.scope.startswith(ORG_PREFIX)}


def _ids_for(scope: str, ids: TargetIds) -> Mapping[str, str] | None:
    if scope == HOST_SCOPE:
        return {}
    return ids.get(scope)  # None: the manifest is not readable now


def _state(
    target: Target,
    scope: str,
    prev: SyncState | None,
    want: Want,
    status: str,
    reason: str,
    message: str,
    revision: str | None,
) -> SyncState:
    now = utc_now()
    if status in (SYNCED, SKIPPED):
        return SyncState(
            target.name,
            scope,
            target.kind,
            want.partition,
            dict(want.values),
            want.secret_fp,
            status,
            reason,
            message,
            now,
            0,
            now,
            revision,
        )
    base = prev if prev is not None and prev.synced_at is not None else None
    return SyncState(
        target.name,
        scope,
        target.kind,
        base.partition if base else None,
        dict(base.values) if base else {},
        base.secret_fp if base else None,
        FAILED,
        reason,
        message,
        now,
        (prev.attempts if prev is not None else 0) + 1,
        base.synced_at if base else None,
        base.revision if base else None,
    )


def _same(a: SyncState | None, b: SyncState) -> bool:
    """Equal but for the times: rewriting it would change nothing anyone reads."""
    return a is not None and replace(a, at=b.at, synced_at=b.synced_at) == b


def plan_target(
    target: Target,
    records: Mapping[str, Any],
    states: Mapping[tuple[str, str], SyncState],
    ids: TargetIds,
    *,
    drift: bool,
) -> tuple[list[Work], list[SyncState], int]:
    """(work due, states settled without I/O, scopes up to date) for one target."""
    work: list[Work] = []
    settled: list[SyncState] = []
    up_to_date = 0
    for scope, rec in records.items():
        prev = states.get((target.name, scope))
        want = target.want(rec, _ids_for(scope, ids), prev.partition if prev else None)
        revision = getattr(rec, "last_applied_revision", None)
        if want.skip is not None:
            message = "settings come from the platform defaults: left to the target's own"
            st = _state(target, scope, prev, want, SKIPPED, want.skip, message, revision)
            if not _same(prev, st):
                settled.append(st)
            else:
                up_to_date += 1
            continue
        if want.problem is not None:
            st = _state(target, scope, prev, want, FAILED, *want.problem, revision)
            if prev is None or (prev.status, prev.reason, prev.message) != (
                FAILED,
                want.problem[0],
                want.problem[1],
            ):
                settled.append(st)
            continue
        item = Work(scope, rec, want, prev, check_drift=drift)
        if (
            drift
            or item.fresh
            or prev is None
            or prev.status != SYNCED
            or item.changed_keys
            or item.write_secret
        ):
            work.append(item)
        else:
            up_to_date += 1
    return work, settled, up_to_date


def plan_removed(
    target: Target,
    records: Mapping[str, Any],
    states: Mapping[tuple[str, str], SyncState],
    host: Any,
    revision: str | None,
) -> tuple[list[Work], list[tuple[str, str]]]:
    """Scopes this target was synced for that left the store (pruned orgs): (work to tell
    the target, states to forget without I/O: never delivered, or left alone by design).
    ``host``: the host's record (or desired scope), what a pruned org inherits again."""
    work: list[Work] = []
    forget: list[tuple[str, str]] = []
    for (name, scope), prev in sorted(states.items()):
        if name != target.name or scope in records or scope == HOST_SCOPE:
            continue
        if host is None or prev.synced_at is None:
            forget.append(prev.key)  # nothing was ever delivered: nothing to take back
            continue
        inherited = _inheriting(host, scope, revision)
        want = target.removed(inherited, prev)
        if want.skip is not None or want.problem is not None:
            forget.append(prev.key)
            continue
        work.append(Work(scope, inherited, want, prev, removed=True))
    return work, forget


def _inheriting(host: Any, scope: str, revision: str | None) -> Any:
    """The host's record (or desired scope) under an org's name: what a pruned org inherits."""
    if isinstance(host, ScopeRecord):
        return replace(host, scope=scope, last_applied_revision=revision)
    return replace(host, scope=scope)


def sync_targets(
    store: StateStore,
    manifests: Sequence[TargetManifest],
    ids: TargetIds,
    ctx: SyncContext,
    *,
    drift: bool,
    only: Collection[str] | None = None,
    forget_others: bool = False,
) -> SyncReport:
    """Sync every target; ``only`` limits the scopes (the daemon's incremental path).
    ``forget_others`` (a full run over a valid set) drops the state of removed targets.
    Scopes that left the store are handed to their targets once (:func:`plan_removed`)
    and forgotten when that succeeded."""
    started = time.perf_counter()
    report = SyncReport()
    targets = build_all(manifests)
    current = store.target_states(None if only is None else set(only))
    if not targets and not current:
        return report  # no target, nothing remembered: no store read at all
    if only is None:
        records: dict[str, ScopeRecord] = store.scopes()
    else:
        records = {s: r for s in sorted(only) if (r := store.get(s)) is not None}
    states = {s.key: s for s in current}
    names = {t.name for t in targets}
    forget = [k for k in states if k[0] not in names] if forget_others and only is None else []
    if not targets:
        if forget:
            store.drop_target_states(forget)
        return report
    host, removal_revision = None, None
    if any(k[1] not in records for k in states):  # pruned scopes: they inherit the host
        host = records.get(HOST_SCOPE) or store.get(HOST_SCOPE)
        removal_revision = ctx.revision or store.current_revision()
    writes: list[SyncState] = []
    for target in targets:
        tr = TargetReport(target.name, target.kind)
        report.targets.append(tr)
        work, settled, tr.up_to_date = plan_target(target, records, states, ids, drift=drift)
        gone, left = plan_removed(target, records, states, host, removal_revision)
        forget += left
        tr.removed += [k[1] for k in left]
        work += gone
        writes.extend(settled)
        tr.skipped = sum(1 for s in settled if s.status == SKIPPED)
        tr.failed.extend(
            Outcome(s.scope, False, s.reason, s.message) for s in settled if s.status == FAILED
        )
        by_scope = {w.scope: w for w in work}
        for outcome in target.sync(work, ctx):
            w = by_scope[outcome.scope]
            revision = w.record.last_applied_revision
            prev = w.previous
            if outcome.ok and w.removed:
                forget.append((target.name, w.scope))  # told once; the scope is gone
                tr.removed.append(w.scope)
                if outcome.written:
                    tr.written[w.scope] = outcome.written
                continue
            if outcome.ok:
                st = _state(
                    target, w.scope, prev, w.want, SYNCED, "Synced", outcome.message, revision
                )
                if outcome.written or outcome.drift:
                    tr.synced.append(w.scope)
                    tr.written[w.scope] = outcome.written
                if outcome.drift:
                    tr.drift[w.scope] = outcome.drift
                if not outcome.written and _same(prev, st):
                    tr.up_to_date += 1
                    continue
            else:
                tr.failed.append(outcome)
                st = _state(
                    target, w.scope, prev, w.want, FAILED, outcome.reason, outcome.message, revision
                )
            writes.append(st)
    if writes:
        store.put_target_states(writes)
    if forget:
        store.drop_target_states(forget)
    with ctx.counters.lock:
        report.requests = {f"{m} {r}": n for (m, r), n in ctx.counters.by.items()}
    report.duration_s = time.perf_counter() - started
    return report


@dataclass(frozen=True, slots=True)
class Pending:
    target: str
    scope: str
    keys: tuple[str, ...]  # values to write
    secret: bool  # the secret is (re)written
    reason: str  # new | changed | retry | moved | removed | <problem reason>

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "scope": self.scope,
            "keys": list(self.keys),
            "secret": self.secret,
            "reason": self.reason,
        }


def pending(
    manifests: Sequence[TargetManifest],
    scopes: Mapping[str, Any],
    states: Iterable[SyncState],
    ids: TargetIds,
) -> list[Pending]:
    """What a sync of ``scopes`` (records or desired scopes) would do, without I/O."""
    index = {s.key: s for s in states}
    out: list[Pending] = []
    for target in build_all(manifests):
        work, settled, _ = plan_target(target, scopes, index, ids, drift=False)
        work += plan_removed(target, scopes, index, scopes.get(HOST_SCOPE), None)[0]
        for st in settled:
            if st.status == FAILED:
                out.append(Pending(target.name, st.scope, (), False, st.reason))
        for w in work:
            prev = w.previous
            reason = (
                "removed"
                if w.removed
                else "new"
                if prev is None or prev.synced_at is None
                else "moved"
                if prev.partition != w.want.partition
                else "changed"
                if w.changed_keys or w.write_secret
                else "retry"
            )
            out.append(Pending(target.name, w.scope, w.changed_keys, w.write_secret, reason))
    return out
