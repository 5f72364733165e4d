"""Rendering of target syncs: what ``apply`` synced, what ``plan`` would sync, and the
per-target summary of ``status``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.reporters import plural
from reconciler.reporters.escape import md_code, term
from reconciler.targets.sync import Pending, SyncReport

SHOW = 5  # scopes named per line; the rest are counted


def _names(scopes: Sequence[str]) -> str:
    shown = ", ".join(term(s) for s in scopes[:SHOW])
    return shown + (f" (+{len(scopes) - SHOW} more)" if len(scopes) > SHOW else "")


def render_sync(report: SyncReport) -> str:
    lines = []
    for t in report.targets:
        keys = sum(len(k) for k in t.written.values())
        text = (
            f"target {term(t.target)} ({t.kind}): {plural(len(t.written), 'scope')} written "
            f"({plural(keys, 'key')}), {t.up_to_date} up to date, {t.skipped} platform "
            f"default, {len(t.failed)} failed"
        )
        if t.removed:
            text += f"; {plural(len(t.removed), 'pruned scope')} handed back ({_names(t.removed)})"
        if t.drift:
            text += f"; drift corrected on {_names(sorted(t.drift))}"
        lines.append(text)
        by_reason: dict[str, list[str]] = {}
        first: dict[str, str] = {}
        for o in t.failed:
            by_reason.setdefault(o.reason, []).append(o.scope)
            first.setdefault(o.reason, o.message)
        for reason, scopes in sorted(by_reason.items()):
            lines.append(f"  FAILED {term(reason)}: {_names(scopes)}: {term(first[reason])}")
    return "\n".join(lines)


def render_pending(items: Sequence[Pending]) -> str:
    if not items:
        return ""
    by_target: dict[str, list[Pending]] = {}
    for p in items:
        by_target.setdefault(p.target, []).append(p)
    lines = [f"Targets: {plural(len(items), 'sync')} pending."]
    for target, group in sorted(by_target.items()):
        names = [p.scope + (" (password)" if p.secret else "") for p in group]
        lines.append(f"  {term(target)}: {_names(names)}")
    return "\n".join(lines)


def render_pending_markdown(items: Sequence[Pending]) -> str:
    """The pending syncs for a pull-request comment: one row per target, names code-spanned."""
    by_target: dict[str, list[Pending]] = {}
    for p in items:
        by_target.setdefault(p.target, []).append(p)
    lines = [
        f"**Targets: {plural(len(items), 'sync')} pending.**",
        "",
        "| target | scopes |",
        "|---|---|",
    ]
    for target, group in sorted(by_target.items()):
        names = [md_code(p.scope) + (" (password)" if p.secret else "") for p in group[:SHOW]]
        more = f" (+{len(group) - SHOW} more)" if len(group) > SHOW else ""
        lines.append(f"| {md_code(target)} | {', '.join(names)}{more} |")
    return "\n".join(lines)


def render_status_targets(targets: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [
        f"target {term(name)} ({row['kind']}): {row['synced']} synced, "
        f"{row['skipped']} platform default, {row['failed']} not synced"
        for name, row in sorted(targets.items())
    ]
