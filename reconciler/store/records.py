"""Plain values the store keeps: one record per scope, history entries and changes.

Everything here is JSON-native data computed by the reconcile layer; the store persists it
verbatim. Dict fields compare by value, so ``old == new`` tells the caller whether a write
is needed. Values must be JSON-native (dict, list, str, int, float, bool, None): a tuple
stored today comes back as a list and then no longer compares equal.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

Conditions = dict[str, dict[str, str]]


def dumps(value: Any) -> str:
    """Compact, canonical JSON: the only encoding the store writes."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def content_digest(
    mode: str, spec: str, effective: str, sources: str, fingerprint: str | None
) -> bytes:
    """16 bytes that change when a scope's applied *content* changes: SHA-256 of the mode,
    the canonical JSON texts (:func:`dumps`) of spec, effective settings and sources, and
    the fingerprint, one per line (canonical JSON has no raw newline). Both SQL backends
    compute it from the stored texts as they read them (``sqlbase.reads.digests``)."""
    text = f"{mode}\n{spec}\n{effective}\n{sources}\n{fingerprint or ''}"
    return hashlib.sha256(text.encode()).digest()[:16]


@dataclass(frozen=True, slots=True)
class ScopeDigest:
    """A stored scope without its content: what a plan needs of every scope to tell the
    unchanged ones apart (``digest``: :func:`content_digest` of the stored columns) and to
    hold, settle or touch them. Read-only; backends share ``conditions`` between rows."""

    scope: str
    mode: str
    source_file: str | None
    last_applied_revision: str | None
    last_attempted_revision: str | None
    conditions: Conditions
    digest: bytes


class TextMemo:
    """:func:`dumps` that remembers by identity: values shared by many records (the host's
    settings in every inheriting org's record) are encoded once, one string; the store's
    transaction keeps one (its history reuses the texts its upserts made), and so may any
    caller comparing many records with what the store keeps. Lives one such task."""

    __slots__ = ("_texts",)

    def __init__(self) -> None:
        self._texts: dict[int, tuple[Any, str]] = {}

    def __call__(self, value: Any) -> str:
        hit = self._texts.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        out = dumps(value)
        self._texts[id(value)] = (value, out)
        return out

    def clear(self) -> None:
        self._texts.clear()


@dataclass(frozen=True, slots=True)
class ScopeRecord:
    """What the store holds for one scope (``host`` or ``org/<name>``)."""

    scope: str
    mode: str  # "default" | "custom"
    spec: dict[str, Any]  # applied spec as written (secret refs only)
    effective: dict[str, Any]  # flat effective settings (model.Effective.flat)
    sources: dict[str, str]  # field -> "platform" | "host" | "org"
    fingerprint: str | None = None  # keyed secret fingerprint (hex)
    source_file: str | None = None
    last_applied_revision: str | None = None
    last_applied_at: str | None = None  # ISO-8601 UTC
    last_attempted_revision: str | None = None
    last_attempted_at: str | None = None
    conditions: Conditions = field(default_factory=dict)
    probe: dict[str, Any] | None = None  # latest ProbeResult.to_dict()

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "mode": self.mode,
            "spec": self.spec,
            "effective": self.effective,
            "sources": self.sources,
            "fingerprint": self.fingerprint,
            "source_file": self.source_file,
            "last_applied_revision": self.last_applied_revision,
            "last_applied_at": self.last_applied_at,
            "last_attempted_revision": self.last_attempted_revision,
            "last_attempted_at": self.last_attempted_at,
            "conditions": self.conditions,
            "probe": self.probe,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScopeRecord:
        """Inverse of :meth:`to_dict`; missing optional keys (older history rows) default."""
        return cls(
            scope=str(d["scope"]),
            mode=str(d["mode"]),
            spec=dict(d.get("spec") or {}),
            effective=dict(d.get("effective") or {}),
            sources=dict(d.get("sources") or {}),
            fingerprint=d.get("fingerprint"),
            source_file=d.get("source_file"),
            last_applied_revision=d.get("last_applied_revision"),
            last_applied_at=d.get("last_applied_at"),
            last_attempted_revision=d.get("last_attempted_revision"),
            last_attempted_at=d.get("last_attempted_at"),
            conditions=dict(d.get("conditions") or {}),
            probe=d.get("probe"),
        )


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One applied revision (an apply or a rollback)."""

    id: int
    revision: str
    at: str
    actor: str
    kind: str  # "apply" | "rollback"
    summary: str
    scopes: tuple[str, ...]  # scopes touched: host first, then orgs by name


@dataclass(frozen=True, slots=True)
class HistoryChange:
    """A scope's full record before and after a history entry (``None``: absent)."""

    scope: str
    before: ScopeRecord | None
    after: ScopeRecord | None


@dataclass(frozen=True, slots=True)
class Suspension:
    suspended: bool
    reason: str | None
    at: str | None
    by: str | None


@dataclass(frozen=True, slots=True)
class HeldRecord:
    """Something held that has no applied record: a scope never applied (``kind='scope'``,
    ``name`` = the scope) or an invalid file that names no scope (``kind='file'``)."""

    name: str
    kind: str  # "scope" | "file"
    reason: str
    message: str
    source_file: str | None
    revision: str | None
    at: str

    def same_as(self, other: HeldRecord) -> bool:
        """Equal but for when it was (last) recorded."""
        return (self.name, self.kind, self.reason, self.message, self.source_file) == (
            other.name,
            other.kind,
            other.reason,
            other.message,
            other.source_file,
        )


@dataclass(frozen=True, slots=True)
class ScopeStatus:
    """What fleet views show of one applied scope: a :class:`ScopeRecord` without its spec,
    settings, sources and fingerprint (cheap to read for every scope at once). Read-only:
    a backend may share one ``conditions`` or ``probe`` value between scopes."""

    scope: str
    mode: str
    source_file: str | None
    last_applied_revision: str | None
    last_applied_at: str | None
    last_attempted_revision: str | None
    last_attempted_at: str | None
    conditions: Conditions
    probe: dict[str, Any] | None

    @classmethod
    def of(cls, rec: ScopeRecord) -> ScopeStatus:
        return cls(
            rec.scope,
            rec.mode,
            rec.source_file,
            rec.last_applied_revision,
            rec.last_applied_at,
            rec.last_attempted_revision,
            rec.last_attempted_at,
            rec.conditions,
            rec.probe,
        )


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    """:class:`StoreSnapshot` with :class:`ScopeStatus` rows (host first, then orgs by name)
    instead of full records: the read API's index at 100,000 scopes."""

    statuses: tuple[ScopeStatus, ...]
    suspension: Suspension
    current_revision: str | None
    data_version: int
    held: tuple[HeldRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class StoreSnapshot:
    """A consistent view of everything ``status`` shows, read in one read transaction."""

    scopes: dict[str, ScopeRecord]
    suspension: Suspension
    current_revision: str | None
    data_version: int
    held: tuple[HeldRecord, ...] = ()
