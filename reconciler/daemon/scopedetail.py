"""``GET /v1/scopes/{scope}``: one scope as the store holds it, for people.

Applied effective settings with the source of each field (platform/host/org); secrets as
their *references* (``env:NAME``, ``file:PATH``) — never resolved here; conditions with
reasons; the last probes with per-stage latency and delivery confirmation; and history
entries with field-level changes (a secret change shows as ``(sensitive value changed)``,
detected by the keyed fingerprint, as ``plan`` shows it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.operations import PROBE_SUMMARY, scope_head
from reconciler.store import ScopeRecord, StateStore
from reconciler.store.history import content_of

PROBES_SHOWN = 10
HISTORY_SHOWN = 20
SECRET_FIELDS = frozenset(
    {"smtp.auth.password", "smtp.auth.oauth2.clientSecret", "probe.confirm.imap.password"}
)
SENSITIVE_CHANGED = "(sensitive value changed)"
# what status shows of a probe, and the details a person looking at one scope wants
_PROBE_KEYS = (*PROBE_SUMMARY, "hint", "latency_ms", "probe_id", "endpoint", "sent", "attempts")


def settings_of(rec: ScopeRecord) -> list[dict[str, Any]]:
    """Every set field with its value (a reference for secrets) and its source."""
    out = []
    for name in sorted(rec.effective):
        value = rec.effective[name]
        if value is None:
            continue
        out.append(
            {
                "field": name,
                "value": value,
                "source": rec.sources.get(name),
                "secret": name in SECRET_FIELDS,
            }
        )
    return out


def field_changes(
    before: ScopeRecord | Mapping[str, Any] | None, after: ScopeRecord | Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """Field-level changes from ``before`` to ``after`` (``None``: absent): whole records,
    or the two sides of a history delta (``ScopeDelta``: only what changed)."""
    prev = content_of(before) if isinstance(before, ScopeRecord) else before
    post = content_of(after) if isinstance(after, ScopeRecord) else after
    old = prev.get("effective", {}) if prev else {}
    new = post.get("effective", {}) if post else {}
    changes: list[dict[str, Any]] = []
    mode_a, mode_b = (prev or {}).get("mode"), (post or {}).get("mode")
    if mode_a != mode_b:
        changes.append({"field": "mode", "before": mode_a, "after": mode_b})
    sources_a = prev.get("sources", {}) if prev else {}
    sources_b = post.get("sources", {}) if post else {}
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        src_a, src_b = sources_a.get(name), sources_b.get(name)
        if a == b and src_a == src_b:
            continue
        if a is None and b is None:
            continue
        changes.append(
            {
                "field": name,
                "before": a,
                "after": b,
                "sourceBefore": src_a,
                "sourceAfter": src_b,
                "secret": name in SECRET_FIELDS,
            }
        )
    fp_a = prev.get("fingerprint") if prev else None
    fp_b = post.get("fingerprint") if post else None
    if prev is not None and post is not None and fp_a != fp_b and fp_a and fp_b:
        secret_fields = [c for c in changes if c.get("secret")]
        if not secret_fields:
            changes.append({"field": "secret", "before": None, "after": SENSITIVE_CHANGED})
        for c in secret_fields:
            c["note"] = SENSITIVE_CHANGED
    return changes


def _history(store: StateStore, scope: str) -> list[dict[str, Any]]:
    out = []
    for entry in store.history(scope, HISTORY_SHOWN):
        item: dict[str, Any] = {
            "id": entry.id,
            "revision": entry.revision,
            "at": entry.at,
            "actor": entry.actor,
            "kind": entry.kind,
            "summary": entry.summary,
            "scopesTouched": len(entry.scopes),
            "changes": None,
        }
        change = store.history_change(entry.id, scope)
        if change is not None:
            item["changes"] = field_changes(change.before, change.after)
        out.append(item)
    return out


def _probes(store: StateStore, scope: str) -> list[dict[str, Any]]:
    return [{k: p.get(k) for k in _PROBE_KEYS} for p in store.probe_log(scope, PROBES_SHOWN)]


def scope_detail(store: StateStore, scope: str) -> dict[str, Any] | None:
    """The detail document of ``scope``, or ``None`` when the store knows no such scope."""
    rec = store.get(scope)
    if rec is None:
        held = next((h for h in store.held() if h.kind == "scope" and h.name == scope), None)
        if held is None:
            return None
        return {
            "scope": scope,
            "kind": "host" if scope == "host" else "org",
            "applied": False,
            "mode": None,
            "source": held.source_file,
            "lastAttemptedRevision": held.revision,
            "lastAttemptedAt": held.at,
            "conditions": {
                "Ready": {"status": "False", "reason": held.reason, "message": held.message},
                "Stalled": {"status": "True", "reason": held.reason, "message": held.message},
            },
            "settings": [],
            "probes": [],
            "history": _history(store, scope),
        }
    return {
        "scope": scope,
        "kind": "host" if scope == "host" else "org",
        "applied": True,
        # as in status: Synced/<target> from the targets' sync state, folded into Ready
        **scope_head(rec, store.target_states([scope])),
        "settings": settings_of(rec),
        "probes": _probes(store, scope),
        "history": _history(store, scope),
    }
