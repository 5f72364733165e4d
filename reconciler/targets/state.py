"""What the store remembers per (target, scope), and the conditions derived from it.

:class:`SyncState` itself lives with the store (``reconciler.store.syncstate``), which
persists it verbatim; it is re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.store.syncstate import SyncState as SyncState

# SyncState.status values
SYNCED = "synced"
SKIPPED = "skipped"  # nothing to write by design (PlatformDefault): counts as Synced
FAILED = "failed"

CONDITION_PREFIX = "Synced/"


def synced_condition(state: SyncState) -> dict[str, str]:
    ok = state.status != FAILED
    return {"status": "True" if ok else "False", "reason": state.reason, "message": state.message}


def with_sync(
    conditions: Mapping[str, dict[str, str]], states: Iterable[SyncState]
) -> dict[str, dict[str, str]]:
    """A scope's conditions plus ``Synced/<target>`` per target; ``Ready`` turns False
    (reason ``NotSynced``) while any target is not synced (DESIGN §12)."""
    out = dict(conditions)
    failed = []
    for state in sorted(states, key=lambda s: s.target):
        cond = synced_condition(state)
        out[CONDITION_PREFIX + state.target] = cond
        if cond["status"] == "False":
            failed.append(f"target {state.target}: {state.reason}: {state.message}")
    ready = out.get("Ready")
    if failed and ready is not None and ready.get("status") == "True":
        more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
        out["Ready"] = {"status": "False", "reason": "NotSynced", "message": failed[0] + more}
    return out


def removal_conditions(states: Iterable[SyncState]) -> dict[str, dict[str, str]]:
    """A scope that left the store while some target still waits for its hand-back (a
    pruned org whose partition is not yet told what it inherits): not Ready until then."""
    out: dict[str, dict[str, str]] = {}
    waiting = []
    for state in sorted(states, key=lambda s: s.target):
        if state.status == FAILED:
            reason, message = state.reason, state.message
        else:
            reason, message = "RemovalPending", "removed from the store; the hand-back is due"
        out[CONDITION_PREFIX + state.target] = {
            "status": "False",
            "reason": reason,
            "message": message,
        }
        waiting.append(f"target {state.target}: {reason}: {message}")
    more = f" (+{len(waiting) - 1} more)" if len(waiting) > 1 else ""
    out["Ready"] = {
        "status": "False",
        "reason": "RemovalNotSynced",
        "message": (waiting[0] if waiting else "") + more,
    }
    return out


def by_scope(states: Iterable[SyncState]) -> dict[str, list[SyncState]]:
    out: dict[str, list[SyncState]] = {}
    for state in states:
        out.setdefault(state.scope, []).append(state)
    return out


def summary(states: Iterable[SyncState]) -> dict[str, Any]:
    """Per target: scopes synced, skipped, failed (for status and metrics)."""
    out: dict[str, dict[str, Any]] = {}
    for s in states:
        row = out.setdefault(s.target, {"kind": s.kind, SYNCED: 0, SKIPPED: 0, FAILED: 0})
        row[s.status] = row.get(s.status, 0) + 1
    return out
