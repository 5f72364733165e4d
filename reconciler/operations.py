"""Core operations behind ``status``, ``effective``, ``diff``, ``history`` and ``rollback``.

Each takes plain inputs and returns plain data for a reporter; none prints.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler import conditions as cond
from reconciler.clock import utc_now
from reconciler.commit import Commit, commit_with_history
from reconciler.desired import build_desired
from reconciler.errors import NotSuspendedError, StoreError
from reconciler.model import Effective, host_first
from reconciler.plan import Plan, compute_plan
from reconciler.reader import discover
from reconciler.store import HistoryChange, ScopeRecord, StateStore
from reconciler.store.history import rewind
from reconciler.validate import ValidationRun, check_file, combine, validate_paths

if TYPE_CHECKING:
    from reconciler.targets.state import SyncState


PROBE_SUMMARY = ("status", "stage", "class", "code", "message", "at", "delivery", "deliveryMs")


def scope_head(rec: ScopeRecord, sync_states: Iterable[SyncState]) -> dict[str, Any]:
    """What ``status`` and the read API show first of an applied scope: where it comes from,
    when it was applied, and its conditions with ``Synced/<target>`` folded into ``Ready``."""
    from reconciler.targets.state import with_sync

    return {
        "scope": rec.scope,
        "mode": rec.mode,
        "source": rec.source_file,
        "lastAppliedRevision": rec.last_applied_revision,
        "lastAppliedAt": rec.last_applied_at,
        "lastAttemptedRevision": rec.last_attempted_revision,
        "lastAttemptedAt": rec.last_attempted_at,
        "conditions": with_sync(rec.conditions, sync_states),
    }


def status_payload(store: StateStore) -> dict[str, Any]:
    from reconciler.targets.state import by_scope, summary

    snap = store.snapshot()
    sync_states = store.target_states()
    synced = by_scope(sync_states)
    scopes = []
    for rec in snap.scopes.values():
        probe = rec.probe or {}
        scopes.append(
            {
                **scope_head(rec, synced.get(rec.scope, ())),
                "probe": {k: probe.get(k) for k in PROBE_SUMMARY} if rec.probe else None,
                "applied": True,
            }
        )
    invalid_files = []
    for held in snap.held:
        if held.kind == "file":
            invalid_files.append(
                {
                    "file": held.name,
                    "reason": held.reason,
                    "message": held.message,
                    "revision": held.revision,
                    "at": held.at,
                }
            )
            continue
        # Held before its first apply: not Ready, with the reason, and nothing applied.
        scopes.append(
            {
                "scope": held.name,
                "mode": None,
                "source": held.source_file,
                "lastAppliedRevision": None,
                "lastAppliedAt": None,
                "lastAttemptedRevision": held.revision,
                "lastAttemptedAt": held.at,
                "conditions": cond.stalled(held.reason, held.message),
                "probe": None,
                "applied": False,
            }
        )
    scopes += _removals(synced, set(snap.scopes) | {str(sc["scope"]) for sc in scopes})
    scopes.sort(key=lambda sc: host_first(str(sc["scope"])))
    susp = snap.suspension
    return {
        "revision": snap.current_revision,
        "suspended": susp.suspended,
        "suspend": {"reason": susp.reason, "at": susp.at, "by": susp.by}
        if susp.suspended
        else None,
        "scopes": scopes,
        "invalidFiles": invalid_files,
        **({"targets": summary(sync_states)} if sync_states else {}),
    }


def _removals(synced: Mapping[str, list[SyncState]], shown: set[str]) -> list[dict[str, Any]]:
    """Scopes no longer in the store whose hand-back a target still waits for (a pruned
    org, retried until its partition is told): listed, not Ready, so ``status`` exits 3."""
    from reconciler.targets.state import removal_conditions

    return [
        {
            "scope": scope,
            "mode": None,
            "source": None,
            "lastAppliedRevision": None,
            "lastAppliedAt": None,
            "lastAttemptedRevision": None,
            "lastAttemptedAt": max(s.at for s in states),
            "conditions": removal_conditions(states),
            "probe": None,
            "applied": False,
            "removed": True,
        }
        for scope, states in sorted(synced.items())
        if scope not in shown
    ]


def all_ready(payload: Mapping[str, Any]) -> bool:
    """Every scope Ready and no invalid file waiting (``status`` exits 3 otherwise)."""
    return all(cond.is_ready(s["conditions"]) for s in payload["scopes"]) and not payload.get(
        "invalidFiles"
    )


def diff_revisions(configs: Path, base: str, head: str | None, platform: Effective) -> Plan:
    """Effective settings at two git revisions of the configs folder (no store, no secrets).

    The same rules as ``plan``: the base is the "current" side, a broken head file holds
    its scope, and nothing is pruned while a head file cannot be read or names no scope."""
    from reconciler.gitrev import export_folder

    with tempfile.TemporaryDirectory(prefix="mailctl-diff-") as tmp:
        base_dir = export_folder(configs, base, Path(tmp, "base"))
        head_dir = configs if head is None else export_folder(configs, head, Path(tmp, "head"))
        base_run = _validate_as(base_dir, configs)
        head_run = _validate_as(head_dir, configs)
    # The base is the "current" side; its broken files simply contribute nothing.
    base_state = build_desired(base_run, {}, platform, None)
    head_state = build_desired(head_run, dict(base_state.scopes), platform, None)
    return compute_plan(base_state.scopes, head_state)


def _validate_as(folder: Path, shown: Path) -> ValidationRun:
    """Validate an exported revision, naming its files as they are in the repository (so
    that diagnostics read well and a head file matches the base file it replaces)."""
    if folder == shown:
        return validate_paths([folder])
    prefix = str(folder)
    checks = []
    for path, name, pre in discover([folder]):
        display = str(shown) + name[len(prefix) :] if name.startswith(prefix) else name
        checks.append(check_file(path, display, replace(pre, file=display) if pre else None))
    return combine(checks, require_host=True, where=str(shown))


def history_payload(store: StateStore, scope: str | None, limit: int) -> dict[str, Any]:
    entries = store.history(scope, limit)
    return {
        "entries": [
            {
                "id": e.id,
                "revision": e.revision,
                "at": e.at,
                "actor": e.actor,
                "kind": e.kind,
                "summary": e.summary,
                "scopes": list(e.scopes),
            }
            for e in entries
        ]
    }


def rollback(
    store: StateStore, to_id: int, actor_name: str, *, history_keep: int | None = None
) -> tuple[int | None, list[str]]:
    """Re-apply the settings in effect right after history entry ``to_id``. Requires
    suspend. The target is found by rewinding the current records through the compact
    history of every later entry, all in the rollback's own transaction; the rollback is
    then written like an apply (:func:`reconciler.commit.commit_with_history`), dropping
    no history unless ``history_keep`` is given (apply and the daemon apply retention)."""
    if not store.suspension().suspended:
        raise NotSuspendedError(
            "rollback requires the store to be suspended",
            hint="run 'mailctl suspend --reason ...' first, so reconciliation does not "
            "re-apply the configs over the rollback",
        )
    now = utc_now()
    with store.transaction() as tx:
        entries = store.history(None, None, scopes=False)  # newest first, inside the tx
        entry = next((e for e in entries if e.id == to_id), None)
        if entry is None:
            raise StoreError(f"no history entry #{to_id}", hint="see 'mailctl history'")
        current = tx.scopes()
        target = rewind(current, [store.history_changes(e.id) for e in entries if e.id > to_id])
        revision = entry.revision
        changes: list[HistoryChange] = []
        for scope in sorted(set(current) | set(target), key=host_first):
            old, want = current.get(scope), target.get(scope)
            if want is None:
                if old is not None:
                    changes.append(HistoryChange(scope, old, None))
                continue
            if old is not None and (old.spec, old.effective, old.fingerprint) == (
                want["spec"],
                want["effective"],
                want["fingerprint"],
            ):
                continue
            new = ScopeRecord(
                scope=scope,
                mode=want["mode"],
                spec=want["spec"],
                effective=want["effective"],
                sources=want["sources"],
                fingerprint=want["fingerprint"],
                source_file=want["source_file"],
                last_applied_revision=revision,
                last_applied_at=now,
                last_attempted_revision=revision,
                last_attempted_at=now,
                conditions=cond.applied(revision),
                probe=None,
            )
            changes.append(HistoryChange(scope, old, new))
        if not changes:
            return None, []
        n = len(changes)
        summary = f"rollback to #{to_id}: {n} scope{'s' if n != 1 else ''}"
        hid = commit_with_history(
            tx, Commit(revision, actor_name, "rollback", summary, changes), keep=history_keep
        )
    return hid, [c.scope for c in changes]
