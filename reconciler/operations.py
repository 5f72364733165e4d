"""Core operations behind ``status``, ``effective``, ``diff``, ``history`` and ``rollback``.

Each takes plain inputs and returns plain data for a reporter; none prints.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reconciler import conditions as cond
from reconciler.desired import build_desired
from reconciler.errors import NotSuspendedError, StoreError, UnknownScopeError
from reconciler.model import FIELDS, HOST_SCOPE, Effective
from reconciler.plan import Plan, compute_plan
from reconciler.store import HistoryChange, ScopeRecord, Store, utc_now
from reconciler.validate import validate_paths


def status_payload(store: Store) -> dict[str, Any]:
    snap = store.snapshot()
    scopes = []
    for rec in snap.scopes.values():
        probe = rec.probe or {}
        scopes.append(
            {
                "scope": rec.scope,
                "mode": rec.mode,
                "source": rec.source_file,
                "lastAppliedRevision": rec.last_applied_revision,
                "lastAppliedAt": rec.last_applied_at,
                "lastAttemptedRevision": rec.last_attempted_revision,
                "conditions": rec.conditions,
                "probe": {
                    k: probe.get(k) for k in ("status", "stage", "class", "code", "message", "at")
                }
                if rec.probe
                else None,
            }
        )
    susp = snap.suspension
    return {
        "revision": snap.current_revision,
        "suspended": susp.suspended,
        "suspend": {"reason": susp.reason, "at": susp.at, "by": susp.by}
        if susp.suspended
        else None,
        "scopes": scopes,
    }


def all_ready(payload: Mapping[str, Any]) -> bool:
    return all(cond.is_ready(s["conditions"]) for s in payload["scopes"])


@dataclass(frozen=True, slots=True)
class EffectiveView:
    scope: str
    mode: str
    settings: dict[str, Any]
    sources: dict[str, str]
    source_file: str | None


def effective_view(configs: Path, scope: str, platform: Effective) -> EffectiveView:
    """The resolved settings of one scope as the configs folder defines them now."""
    run = validate_paths([configs])
    desired = build_desired(run, {}, platform, None)
    if scope in desired.scopes:
        want = desired.scopes[scope]
        return EffectiveView(scope, want.mode, want.effective, want.sources, want.source_file)
    if scope in desired.held:
        held = desired.held[scope]
        raise UnknownScopeError(
            f"{scope} cannot be resolved: {held.message}", hint="run mailctl validate"
        )
    known = ", ".join(sorted(desired.scopes)[:5]) + (", …" if len(desired.scopes) > 5 else "")
    raise UnknownScopeError(
        f"unknown scope {scope!r}", hint=f"scopes are 'host' and 'org/<name>'; known: {known}"
    )


def effective_payload(view: EffectiveView) -> dict[str, Any]:
    return {
        "scope": view.scope,
        "mode": view.mode,
        "source": view.source_file,
        "settings": {f: view.settings.get(f) for f in FIELDS},
        "sources": {f: view.sources.get(f) for f in FIELDS},
    }


def diff_revisions(configs: Path, base: str, head: str | None, platform: Effective) -> Plan:
    """Effective settings at two git revisions of the configs folder (no store, no secrets)."""
    from reconciler.gitrev import export_folder

    with tempfile.TemporaryDirectory(prefix="mailctl-diff-") as tmp:
        base_dir = export_folder(configs, base, Path(tmp, "base"))
        head_dir = configs if head is None else export_folder(configs, head, Path(tmp, "head"))
        base_run = validate_paths([base_dir])
        head_run = validate_paths([head_dir])
        base_state = build_desired(base_run, {}, platform, None)
        _relabel(base_state, base_dir, configs)
        # The base is the "current" side; its broken files simply contribute nothing.
        head_state = build_desired(head_run, dict(base_state.scopes), platform, None)
        _relabel(head_state, head_dir, configs)
        return compute_plan(base_state.scopes, head_state)


def _relabel(state: Any, tmp_dir: Path, configs: Path) -> None:
    """Show file names as they are in the repository, not in the temporary export."""
    prefix = str(tmp_dir)
    if prefix == str(configs):
        return
    for scope, want in list(state.scopes.items()):
        if want.source_file.startswith(prefix):
            state.scopes[scope] = replace(
                want, source_file=str(configs) + want.source_file[len(prefix) :]
            )


def history_payload(store: Store, scope: str | None, limit: int) -> dict[str, Any]:
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


def rollback(store: Store, to_id: int, actor_name: str) -> tuple[int | None, list[str]]:
    """Re-apply the store state right after history entry ``to_id``. Requires suspend."""
    if not store.suspension().suspended:
        raise NotSuspendedError(
            "rollback requires the store to be suspended",
            hint="run 'mailctl suspend --reason ...' first, so reconciliation does not "
            "re-apply the configs over the rollback",
        )
    entries = sorted(store.history(None, None), key=lambda e: e.id)
    ids = [e.id for e in entries if e.id <= to_id]
    if to_id not in ids:
        raise StoreError(f"no history entry #{to_id}", hint="see 'mailctl history'")
    target: dict[str, ScopeRecord | None] = {}
    for hid in ids:
        for ch in store.history_changes(hid):
            target[ch.scope] = ch.after
    revision = next(e.revision for e in entries if e.id == to_id)
    now = utc_now()
    with store.transaction() as tx:
        current = tx.scopes()
        upserts: list[ScopeRecord] = []
        history: list[HistoryChange] = []
        for scope in sorted(set(current) | set(target), key=lambda s: (s != HOST_SCOPE, s)):
            old, want = current.get(scope), target.get(scope)
            if want is None:
                if old is not None:
                    history.append(HistoryChange(scope, old, None))
                continue
            if old is not None and (old.spec, old.effective, old.fingerprint) == (
                want.spec,
                want.effective,
                want.fingerprint,
            ):
                continue
            new = replace(
                want,
                last_applied_revision=revision,
                last_applied_at=now,
                conditions=cond.applied(revision),
                probe=None,
            )
            upserts.append(new)
            history.append(HistoryChange(scope, old, new))
        if not history:
            return None, []
        tx.upsert_many(upserts)
        tx.delete_many(h.scope for h in history if h.after is None)
        hid = tx.record_history(
            revision=revision,
            actor=actor_name,
            kind="rollback",
            summary=f"rollback to #{to_id}: {len(history)} scopes",
            changes=history,
        )
        tx.set_current_revision(revision)
    return hid, [h.scope for h in history]
