"""What the store remembers per (target, scope) for the targets (``reconciler.targets``):
one :class:`SyncState` value, persisted verbatim as JSON (fingerprints only, never a
secret or a token). Its status values and the conditions derived from it are
``reconciler.targets.state``'s."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


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
