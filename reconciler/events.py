"""Structured log events of a reconcile (DESIGN §5 event names), for the daemon and for
``apply --log-format``.

``manifests.invalid`` (file:line:col, rule), ``scope.applied``, ``scope.pruned``,
``drift.corrected``, ``scope.stalled`` (file:line of the first diagnostic),
``probe.passed``/``probe.failed``. Values only, never a secret: settings are logged by field
name, probe messages come redacted from the probe engine, and the log processor masks any
known secret value on top.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from reconciler.desired import Held
from reconciler.diagnostics import Diagnostic
from reconciler.plan import Action
from reconciler.progress import NullProgress
from reconciler.reconcile import ApplyResult
from reconciler.validate import FileCheck

MAX_SCOPE_LINES = 100  # above this, a cascade is logged as one summary event
MAX_LISTED = 20


def _where(d: Diagnostic) -> str:
    return f"{d.file}:{d.line}:{d.column}"


def _invalid(log: Any, d: Diagnostic, **extra: Any) -> None:
    log.error(
        "manifests.invalid",
        file=d.file,
        line=d.line,
        column=d.column,
        location=_where(d),
        rule=d.rule,
        path=d.path,
        message=f"{_where(d)}: {d.message} [{d.rule}]",
        hint=d.hint,
        **extra,
    )


def log_invalid(log: Any, broken: Iterable[FileCheck], set_errors: Sequence[Diagnostic]) -> None:
    """One ``manifests.invalid`` per broken file (its first error) and per set-wide error."""
    for check in broken:
        errors = [d for d in check.diagnostics if d.is_error] or list(check.diagnostics)
        if errors:
            _invalid(log, errors[0], scope=check.scope, errors=len(errors))
    for d in set_errors:
        _invalid(log, d)


def log_apply(
    log: Any, result: ApplyResult, revision: str, held: Sequence[Held], error: str | None
) -> None:
    plan = result.plan
    for change in plan.changes:
        fields = [c.field for c in change.changes]
        if change.action is Action.DELETE:
            log.info("scope.pruned", scope=change.scope, revision=revision, file=change.source_file)
        elif change.drift:
            log.warning(
                "drift.corrected",
                scope=change.scope,
                revision=revision,
                fields=fields,
                message=f"{change.scope}: the store differed from the manifests; corrected",
            )
        else:
            log.info(
                "scope.applied",
                scope=change.scope,
                action=change.action.value,
                revision=revision,
                fields=fields,
                file=change.source_file,
            )
    if len(plan.cascade) > MAX_SCOPE_LINES:
        log.info(
            "scope.applied",
            cascade=True,
            scopes=len(plan.cascade),
            first=[c.scope for c in plan.cascade[:MAX_LISTED]],
            revision=revision,
        )
    else:
        for change in plan.cascade:
            log.info("scope.applied", scope=change.scope, cascade=True, revision=revision)
    if plan.set_error:
        log.error(
            "reconcile.failed",
            revision=revision,
            error=error,
            held=len(plan.held),
            message=f"nothing applied and nothing pruned: {error}",
        )
        return
    for h in held:
        first = next((d for d in h.diagnostics if d.is_error), None)
        log.warning(
            "scope.stalled",
            scope=h.scope,
            reason=h.reason,
            revision=revision,
            file=first.file if first else None,
            line=first.line if first else None,
            location=f"{first.file}:{first.line}" if first else None,
            message=h.message,
        )


def log_probes(log: Any, outcomes: Iterable[Mapping[str, Any]]) -> None:
    for o in outcomes:
        scopes = list(o.get("scopes", ()))
        passed = o.get("status") == "passed"
        fields: dict[str, Any] = {
            "scope": scopes[0] if scopes else None,
            "scopes": scopes[:MAX_LISTED],
            "count": len(scopes),
            "stage": o.get("stage"),
            "probe_id": o.get("probe_id"),
            "endpoint": o.get("endpoint"),
            "duration_ms": round(sum((o.get("latency_ms") or {}).values()), 1),
        }
        if o.get("delivery") is not None:
            fields["delivery"] = o.get("delivery")
            fields["delivery_ms"] = o.get("deliveryMs")
        if passed:
            log.info("probe.passed", **fields)
        else:
            log.warning(
                "probe.failed",
                **fields,
                failure_class=o.get("class"),
                code=o.get("code"),
                message=o.get("message"),
                hint=o.get("hint"),
            )


class EventStream(NullProgress):
    """Progress callbacks that log as work happens (``apply --log-format``): the applied
    scopes right after the commit, before any probe; each probe result as it completes."""

    def __init__(self, log: Any) -> None:
        self.log = log

    def committed(self, result: Any) -> None:
        log_apply(self.log, result, result.revision, result.held, _set_error(result))

    def probed(self, outcome: Mapping[str, Any]) -> None:
        log_probes(self.log, [outcome])

    def synced(self, report: Any) -> None:
        log_targets(self.log, report)


def log_targets(log: Any, report: Any) -> None:
    """``target.synced`` per target that wrote or corrected something, ``target.failed``
    per target with scopes not synced (reasons counted, the first scopes named)."""
    for t in report.targets:
        if t.written or t.drift:
            log.info(
                "target.synced",
                target=t.target,
                kind=t.kind,
                scopes=sorted(t.written)[:MAX_LISTED],
                count=len(t.written),
                keys=sum(len(k) for k in t.written.values()),
                drift=sorted(t.drift)[:MAX_LISTED],
                duration_ms=round(report.duration_s * 1000, 1),
            )
        if t.failed:
            reasons: dict[str, int] = {}
            for o in t.failed:
                reasons[o.reason] = reasons.get(o.reason, 0) + 1
            first = t.failed[0]
            log.warning(
                "target.failed",
                target=t.target,
                kind=t.kind,
                scope=first.scope,
                scopes=[o.scope for o in t.failed][:MAX_LISTED],
                count=len(t.failed),
                reasons=reasons,
                reason=first.reason,
                message=first.message,
            )


def _set_error(result: ApplyResult) -> str | None:
    if not result.plan.set_error:
        return None
    first = result.plan.held[0] if result.plan.held else None
    return first.message if first else "the manifest set is invalid"
