"""``mailctl effective SCOPE``: what is in effect (the store) or desired (the configs), and
why the two differ when they do (a pending apply, a held scope, a failed gate probe).

Plain data in, plain data out; the reporter renders it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reconciler import conditions as cond
from reconciler.desired import DesiredScope, DesiredState, Held
from reconciler.errors import UnknownScopeError
from reconciler.model import FIELDS, Effective
from reconciler.plan import Plan
from reconciler.store import HeldRecord, ScopeRecord, StateStore


@dataclass(frozen=True, slots=True)
class Difference:
    reason: str  # pending | held | gate_failed
    message: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EffectiveView:
    scope: str
    view: str  # "applied" (in effect, from the store) | "desired" (from the configs)
    mode: str
    settings: dict[str, Any]
    sources: dict[str, str]
    source_file: str | None
    compared: bool  # False: the other side could not be read (no store, no configs)
    differs: Difference | None = None
    # Synced/<target> conditions: what each target holds of the applied settings (§12)
    synced: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Sides:
    record: ScopeRecord | None
    pending_row: HeldRecord | None  # held before its first apply
    desired: DesiredState | None
    plan: Plan | None


def effective_view(
    scope: str,
    *,
    store: StateStore | None,
    configs: Path | None,
    platform: Effective,
    desired: bool = False,
) -> EffectiveView:
    """The settings of ``scope`` in effect (``desired=False``) or as the configs resolve
    them (``desired=True``), compared with the other side where it can be read."""
    sides = _read(scope, store, configs, platform)
    want = sides.desired.scopes.get(scope) if sides.desired is not None else None
    held = _held(scope, sides)
    side: DesiredScope | ScopeRecord | None = want if desired else sides.record
    if side is None:
        raise _missing(scope, sides, held, desired=desired)
    view = EffectiveView(
        scope,
        "desired" if desired else "applied",
        side.mode,
        side.effective,
        side.sources,
        side.source_file,
        compared=(store is not None) if desired else sides.desired is not None,
        synced=_synced(store, scope),
    )
    if not view.compared:
        return view
    return replace(view, differs=_difference(scope, sides, held))


def _synced(store: StateStore | None, scope: str) -> dict[str, dict[str, str]]:
    """The scope's ``Synced/<target>`` conditions, as ``status`` shows them."""
    if store is None:
        return {}
    from reconciler.targets.state import CONDITION_PREFIX, synced_condition

    states = sorted(store.target_states([scope]), key=lambda s: s.target)
    return {CONDITION_PREFIX + s.target: synced_condition(s) for s in states}


def _read(
    scope: str, store: StateStore | None, configs: Path | None, platform: Effective
) -> _Sides:
    from reconciler.reconcile import plan_folder

    record = store.get(scope) if store is not None else None
    pending = None
    if store is not None and record is None:
        pending = next((h for h in store.held() if h.name == scope and h.kind == "scope"), None)
    if configs is None or not configs.is_dir():
        return _Sides(record, pending, None, None)
    plan, state = plan_folder(store, configs, platform)
    return _Sides(record, pending, state, plan)


def _held(scope: str, sides: _Sides) -> Held | None:
    if sides.desired is None:
        return None
    return sides.desired.held.get(scope)


def _missing(scope: str, sides: _Sides, held: Held | None, *, desired: bool) -> UnknownScopeError:
    known = sides.record is not None or sides.pending_row is not None or held is not None
    if sides.desired is not None and scope in sides.desired.scopes:
        known = True
    if not known:
        return UnknownScopeError(
            f"unknown scope {scope!r}",
            hint="scopes are 'host' and 'org/<name>'; see 'mailctl status'",
        )
    if held is not None:
        why = f"held ({held.reason}): {held.message}"
    elif sides.pending_row is not None:
        why = f"held ({sides.pending_row.reason}): {sides.pending_row.message}"
    elif sides.record is None:
        why = "never applied; 'mailctl apply' applies it"
    else:
        why = "its manifest is gone; 'mailctl apply' prunes it"
    if desired:
        what, other = (
            "the configs do not resolve",
            f"'mailctl effective {scope}' shows what is in effect",
        )
    else:
        what, other = (
            "nothing is in effect for",
            f"'mailctl effective {scope} --desired' shows what the configs resolve to",
        )
    if held is not None:  # neither side can show it: say where the reasons are
        other = "'mailctl validate' shows every diagnostic, 'mailctl status' what is held"
    return UnknownScopeError(f"{what} {scope}: {why}", hint=other)


def _difference(scope: str, sides: _Sides, held: Held | None) -> Difference | None:
    record, state = sides.record, sides.desired
    assert state is not None
    want = state.scopes.get(scope)
    if held is not None:
        return Difference("held", f"held ({held.reason}): {held.message}")
    if record is not None and want is not None and _same(record, want):
        return None
    if record is not None and cond.is_stalled(record.conditions):
        stalled = record.conditions["Stalled"]
        if stalled.get("reason") == "ProbeFailed":
            return Difference("gate_failed", stalled.get("message", ""), _changed(scope, sides))
    if record is None and sides.pending_row is not None:
        row = sides.pending_row
        reason = "gate_failed" if row.reason == "ProbeFailed" else "held"
        return Difference(reason, f"{row.reason}: {row.message}", _changed(scope, sides))
    if record is None:
        return Difference("pending", "not applied yet: 'mailctl apply' creates it")
    if want is None:
        return Difference("pending", "its manifest is gone: 'mailctl apply' prunes it")
    fields = _changed(scope, sides)
    shown = ", ".join(fields) if fields else "metadata"
    return Difference(
        "pending", f"the configs differ ({shown}): 'mailctl apply' applies it", fields
    )


def _same(record: ScopeRecord, want: DesiredScope) -> bool:
    return (
        record.effective == want.effective
        and record.sources == want.sources
        and record.mode == want.mode
        and record.fingerprint == want.fingerprint
    )


def _changed(scope: str, sides: _Sides) -> tuple[str, ...]:
    change = sides.plan.by_scope().get(scope) if sides.plan is not None else None
    return tuple(c.field for c in change.changes) if change is not None else ()


def effective_payload(view: EffectiveView) -> dict[str, Any]:
    """``{scope, settings, sources}`` plus additive fields (view, mode, source, inSync,
    differs, and ``conditions`` with ``Synced/<target>`` when targets know the scope)."""
    return {
        "scope": view.scope,
        "view": view.view,
        "mode": view.mode,
        "source": view.source_file,
        "settings": {f: view.settings.get(f) for f in FIELDS},
        "sources": {f: view.sources.get(f) for f in FIELDS},
        "inSync": (view.differs is None) if view.compared else None,
        "differs": None
        if view.differs is None
        else {
            "reason": view.differs.reason,
            "message": view.differs.message,
            "fields": list(view.differs.fields),
        },
        **({"conditions": view.synced} if view.synced else {}),
    }
