"""What the store remembers per (target, scope), and the conditions derived from it.

Kept free of store imports: the store persists :class:`SyncState` values verbatim.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# SyncState.status values
SYNCED = "synced"
SKIPPED = "skipped"  # nothing to write by design (PlatformDefault): counts as Synced
FAILED = "failed"

CONDITION_PREFIX = "Synced/"


@dataclass(frozen=True, slots=True)
class SyncState:
    """The store's memory of one (target, scope): what the last *successful* sync wrote
    (``partition``, ``values``, ``secret_fp``) and how the last attempt went."""

    target: str
    scope: str
    kind: str
    partition: str | None
    values: dict[str, str]
    secret_fp: str | None
    status: str  # synced | skipped | failed
    reason: str
    message: str
    at: str  # ISO-8601 UTC of the last attempt
    attempts: int = 0  # failed attempts in a row
    synced_at: str | None = None
    revision: str | None = None  # the applied revision last synced

    @property
    def key(self) -> tuple[str, str]:
        return (self.target, self.scope)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "scope": self.scope,
            "kind": self.kind,
            "partition": self.partition,
            "values": self.values,
            "secret_fp": self.secret_fp,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "at": self.at,
            "attempts": self.attempts,
            "synced_at": self.synced_at,
            "revision": self.revision,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SyncState:
        return cls(
            target=str(d["target"]),
            scope=str(d["scope"]),
            kind=str(d["kind"]),
            partition=d.get("partition"),
            values=dict(d.get("values") or {}),
            secret_fp=d.get("secret_fp"),
            status=str(d["status"]),
            reason=str(d.get("reason") or ""),
            message=str(d.get("message") or ""),
            at=str(d.get("at") or ""),
            attempts=int(d.get("attempts") or 0),
            synced_at=d.get("synced_at"),
            revision=d.get("revision"),
        )


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
