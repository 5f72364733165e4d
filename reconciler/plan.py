"""Plans: immutable values computed by pure functions (kopf's ``structs/diffs.py`` style).

``compute_plan(current, desired)`` compares the stored records with the desired state and
says, per scope, what an apply would do: create, update, delete or nothing, the field
changes of the *effective* settings (secrets masked, rotation detected by fingerprint),
whether the effective settings change, and whether the store was edited outside mailctl
(drift). Orgs that change only because the host did form the cascade.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from reconciler import conditions as cond
from reconciler.desired import DesiredScope, DesiredState, Held, StoredScope
from reconciler.model import FIELDS, HOST_SCOPE, SECRET_FIELDS
from reconciler.stored import Unchanged

SENSITIVE = "(sensitive value changed)"


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    NOOP = "noop"


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    before: Any
    after: Any
    sensitive: bool = False  # the secret *value* changed (fingerprint differs)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "before": self.before, "after": self.after}
        if self.sensitive:
            out["sensitive"] = True
            out["note"] = SENSITIVE
        return out


@dataclass(frozen=True, slots=True)
class ScopeChange:
    scope: str
    action: Action
    mode_before: str | None
    mode_after: str | None
    changes: tuple[FieldChange, ...]
    effective_changed: bool
    drift: bool = False
    source_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "action": self.action.value,
            "mode": {"before": self.mode_before, "after": self.mode_after},
            "changes": [c.to_dict() for c in self.changes],
            "effective_changed": self.effective_changed,
            "drift": self.drift,
            "source": self.source_file,
        }


@dataclass(frozen=True, slots=True)
class Plan:
    changes: tuple[ScopeChange, ...]  # every scope that is created, updated, deleted
    cascade: tuple[ScopeChange, ...]  # inheriting orgs whose effective settings follow the host
    held: tuple[Held, ...]
    set_error: bool = False
    invalid_files: tuple[Held, ...] = ()  # broken files that define no known scope
    # Stored scopes still Stalled whose configs are fine again: apply clears the stall.
    recovering: tuple[str, ...] = ()
    # What the targets would receive after this plan (targets.sync.Pending; plan only).
    pending_syncs: tuple[Any, ...] = ()

    @property
    def summary(self) -> dict[str, int]:
        counts = {a.value: 0 for a in (Action.CREATE, Action.UPDATE, Action.DELETE)}
        for change in self.changes:
            counts[change.action.value] += 1
        return counts

    @property
    def has_changes(self) -> bool:
        return bool(self.changes or self.cascade)

    @property
    def converged(self) -> bool:
        """Nothing to change and nothing held: the store matches the configuration."""
        return (
            not self.has_changes
            and not self.held
            and not self.invalid_files
            and not self.recovering
        )

    @property
    def invalid(self) -> bool:
        """Some manifest is invalid (a file, or the set as a whole)."""
        return (
            self.set_error
            or bool(self.invalid_files)
            or any(h.reason == "InvalidManifest" for h in self.held)
        )

    def by_scope(self) -> dict[str, ScopeChange]:
        return {c.scope: c for c in (*self.changes, *self.cascade)}


def field_changes(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    fp_before: str | None = None,
    fp_after: str | None = None,
) -> tuple[FieldChange, ...]:
    """Differences between two flat effective settings, secrets masked."""
    old = before or {}
    new = after or {}
    out = []
    for name in FIELDS:
        a, b = old.get(name), new.get(name)
        rotated = (
            name in SECRET_FIELDS
            and (a is not None or b is not None)
            and before is not None
            and after is not None
            and fp_before is not None
            and fp_after is not None
            and fp_before != fp_after
        )
        if a != b or rotated:
            out.append(FieldChange(name, a, b, sensitive=rotated))
    return tuple(out)


# (id(before), id(after), fp_before, fp_after) -> changes, for one compute_plan call: every
# org inheriting the host compares the same two shared dicts (records decoded once per
# distinct text, one flat dict per Resolved), so 80,000 cascaded orgs share one tuple.
_Memo = dict[tuple[int, int, str | None, str | None], tuple[FieldChange, ...]]


def _changes(
    memo: _Memo,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    fp_before: str | None,
    fp_after: str | None,
) -> tuple[FieldChange, ...]:
    key = (id(before), id(after), fp_before, fp_after)
    found = memo.get(key)
    if found is None:
        found = memo[key] = field_changes(before, after, fp_before, fp_after)
    return found


def _diff_scope(
    scope: str,
    record: StoredScope | None,
    want: DesiredScope | None,
    host_effective_changed: bool,
    memo: _Memo | None = None,
) -> ScopeChange | None:
    memo = {} if memo is None else memo
    if want is None:
        if record is None:
            return None
        return ScopeChange(
            scope,
            Action.DELETE,
            record.mode,
            None,
            _changes(memo, record.effective, None, None, None),
            True,
            source_file=record.source_file,
        )
    if record is None:  # 80,000 inheriting orgs created share one tuple of changes
        return ScopeChange(
            scope,
            Action.CREATE,
            None,
            want.mode,
            _changes(memo, None, want.effective, None, None),
            True,
            source_file=want.source_file,
        )
    changes = _changes(
        memo,
        record.effective,
        want.effective,
        record.fingerprint,
        want.fingerprint,
    )
    if record.mode != want.mode:
        changes = (FieldChange("mode", record.mode, want.mode), *changes)
    effective_changed = bool(changes) or record.sources != want.resolved.sources
    spec_changed = record.spec != want.spec or record.mode != want.mode
    own_secret_changed = (
        want.resolved.sources.get("smtp.auth.password") == _own(scope)
        and record.fingerprint != want.fingerprint
    )
    inputs_same = not spec_changed and not own_secret_changed
    inherits = scope != HOST_SCOPE and want.mode == "default"
    drift = (
        inputs_same
        and effective_changed
        and not (inherits and host_effective_changed)
        and not (scope == HOST_SCOPE and want.mode == "default")  # platform defaults moved
    )
    if spec_changed or own_secret_changed or drift:
        action = Action.UPDATE
    elif effective_changed:
        action = Action.NOOP  # cascade: follows its parent
    else:
        return None
    return ScopeChange(
        scope,
        action,
        record.mode,
        want.mode,
        changes,
        effective_changed,
        drift=drift,
        source_file=want.source_file,
    )


def _own(scope: str) -> str:
    return "host" if scope == HOST_SCOPE else "org"


def compute_plan(current: Mapping[str, StoredScope], desired: DesiredState) -> Plan:
    """Pure: stored records + desired state → plan. Held scopes are left as they are."""
    held = desired.held
    changes: list[ScopeChange] = []
    cascade: list[ScopeChange] = []
    host_change = None
    if HOST_SCOPE not in held:
        host_change = _diff_scope(
            HOST_SCOPE, current.get(HOST_SCOPE), desired.scopes.get(HOST_SCOPE), False
        )
    host_effective_changed = bool(host_change and host_change.effective_changed)
    if host_change is not None:
        changes.append(host_change)
    scopes = sorted(set(current) | set(desired.scopes))
    memo: _Memo = {}  # the dicts compared stay referenced (current, desired) meanwhile
    for scope in scopes:
        if scope == HOST_SCOPE or scope in held:
            continue
        want = desired.scopes.get(scope)
        if want is None and not desired.may_prune:
            continue
        record = current.get(scope)
        if isinstance(record, Unchanged):
            continue  # its stored content is the desired content (equal digests)
        change = _diff_scope(scope, record, want, host_effective_changed, memo)
        if change is None:
            continue
        (cascade if change.action is Action.NOOP else changes).append(change)
    changed = {c.scope for c in (*changes, *cascade)}
    recovering = tuple(
        s
        for s in sorted(desired.scopes)
        if s not in changed and s in current and _stalled(current[s])
    )
    return Plan(
        tuple(changes),
        tuple(cascade),
        tuple(replace(held[s], applied=s in current) for s in sorted(held)),
        desired.set_error,
        tuple(desired.unassigned[f] for f in sorted(desired.unassigned)),
        recovering,
    )


def _stalled(record: StoredScope) -> bool:
    conditions = getattr(record, "conditions", None)  # a diff's base side has none
    return isinstance(conditions, dict) and cond.is_stalled(conditions)
