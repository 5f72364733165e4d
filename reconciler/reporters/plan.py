"""Rendering of plans (``plan`` and ``diff``): Terraform-style text, JSON, PR Markdown."""

from __future__ import annotations

import json
from typing import Any

from reconciler.plan import SENSITIVE, Action, FieldChange, Plan, ScopeChange
from reconciler.reporters import plural, style, to_json
from reconciler.reporters.escape import md_code, md_fence, term

SYMBOL = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-", Action.NOOP: "~"}
VERB = {
    Action.CREATE: "will be created",
    Action.UPDATE: "will be updated in-place",
    Action.DELETE: "will be deleted (pruned: it inherits again)",
    Action.NOOP: "follows the host",
}
COLOR = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.DELETE: "red"}
MARKDOWN_BUDGET = 60_000  # GitHub comments stop at 65,536 characters
CASCADE_NAMES_TEXT = 20


def _value(v: Any) -> str:
    return "null" if v is None else json.dumps(v)


def field_line(fc: FieldChange, action: Action) -> str:
    if action is Action.CREATE:
        return f"+ {fc.field}: {_value(fc.after)}"
    if action is Action.DELETE:
        return f"- {fc.field}: {_value(fc.before)}"
    if fc.sensitive:
        refs = "" if fc.before == fc.after else f"{_value(fc.before)} -> {_value(fc.after)} "
        return f"~ {fc.field}: {refs}{SENSITIVE}"
    return f"~ {fc.field}: {_value(fc.before)} -> {_value(fc.after)}"


def _summary_line(plan: Plan) -> str:
    s = plan.summary
    return f"Plan: {s['create']} to create, {s['update']} to update, {s['delete']} to delete."


def _cascade_names(plan: Plan, limit: int) -> str:
    names = [c.scope for c in plan.cascade]
    shown = ", ".join(names[:limit])
    return shown + (f" (and {len(names) - limit} more)" if len(names) > limit else "")


def render_text(plan: Plan, *, color: bool, title: str = "mailctl", diff: bool = False) -> str:
    """``diff``: the plan compares two revisions, there is no store to speak of."""
    out: list[str] = []
    if plan.changes:
        out.append(f"{title} will perform the following actions:\n")
    for change in plan.changes:
        sym = style(SYMBOL[change.action], color, fg=COLOR.get(change.action), bold=True)
        where = f" ({term(change.source_file)})" if change.source_file else ""
        drift = " — drift: the store was edited outside mailctl" if change.drift else ""
        out.append(f"  # {change.scope} {VERB[change.action]}{drift}")
        out.append(f"  {sym} {change.scope}{where}")
        if change.action is Action.CREATE and change.mode_after:
            out.append(f"      + mode: {_value(change.mode_after)}")
        for fc in change.changes:
            out.append(f"      {field_line(fc, change.action)}")
        if not change.changes and change.action is Action.UPDATE:
            out.append("      (spec changed; effective settings unchanged)")
        out.append("")
    if plan.cascade:
        n = len(plan.cascade)
        out.append(
            f"  Cascade: the host change also changes the effective settings of "
            f"{n} inheriting org{'s' if n != 1 else ''}:"
        )
        out.append(f"      {_cascade_names(plan, CASCADE_NAMES_TEXT)}")
        out.append("")
    for held in plan.held:
        mark = style("!", color, fg="red", bold=True)
        how = "at its last applied settings" if held.applied else "and was never applied"
        out.append(
            f"  {mark} {term(held.scope)} is held {how} ({term(held.reason)}): {term(held.message)}"
        )
    for bad in plan.invalid_files:
        mark = style("!", color, fg="red", bold=True)
        out.append(
            f"  {mark} {term(bad.scope)} is invalid and defines no scope yet: {term(bad.message)}"
        )
    if plan.held or plan.invalid_files:
        out.append("")
    if plan.pending_syncs:
        from reconciler.reporters.targets import render_pending

        out.append(render_pending(plan.pending_syncs) + "\n")
    if plan.converged and plan.pending_syncs:
        out.append(
            "No setting changes. The store matches the configuration; apply syncs the targets."
        )
    elif plan.converged:
        out.append(
            "No changes. The effective settings are the same at both revisions."
            if diff
            else "No changes. The store matches the configuration."
        )
    elif not plan.has_changes and not plan.held and not plan.invalid_files:
        n = len(plan.recovering)
        out.append(
            f"No setting changes. Apply clears the Stalled condition of {n} "
            f"scope{'s' if n != 1 else ''}: {', '.join(plan.recovering)}."
        )
    elif not plan.has_changes:
        out.append(style(_not_converged(plan, diff), color, bold=True))
    else:
        out.append(style(_summary_line(plan), color, bold=True))
    return "\n".join(out)


def _not_converged(plan: Plan, diff: bool = False) -> str:
    parts = []
    if plan.held:
        n = len(plan.held)
        parts.append(f"{n} scope{'s' if n != 1 else ''} held")
    if plan.invalid_files:
        n = len(plan.invalid_files)
        parts.append(f"{n} invalid file{'s' if n != 1 else ''}")
    if diff:
        return f"No changes can be applied: {' and '.join(parts)} at the head revision."
    return (
        f"No changes can be applied: {' and '.join(parts)}. "
        "The store does not match the configuration."
    )


def plan_payload(plan: Plan) -> dict[str, Any]:
    syncs = [p.to_dict() for p in plan.pending_syncs]
    return {
        **({"pending_syncs": syncs} if syncs else {}),
        "changes": [c.to_dict() for c in (*plan.changes, *plan.cascade)],
        "summary": {**plan.summary, "cascade": len(plan.cascade)},
        "cascade": {
            "count": len(plan.cascade),
            "scopes": [c.scope for c in plan.cascade],
        },
        "held": [
            {
                "scope": h.scope,
                "reason": h.reason,
                "message": h.message,
                "applied": h.applied,
                "source": h.source_file,
                "diagnostics": [d.to_dict() for d in h.diagnostics],
            }
            for h in plan.held
        ],
        "recovering": list(plan.recovering),
        "invalid_files": [
            {
                "file": h.scope,
                "message": h.message,
                "diagnostics": [d.to_dict() for d in h.diagnostics],
            }
            for h in plan.invalid_files
        ],
        "set_error": plan.set_error,
    }


def render_json(plan: Plan, **extra: Any) -> str:
    return to_json({**extra, **plan_payload(plan)})


def _md_change(change: ScopeChange) -> list[str]:
    lines = [f"{SYMBOL[change.action]} {change.scope}  # {VERB[change.action]}"]
    if change.action is Action.CREATE and change.mode_after:
        lines.append(f"    + mode: {_value(change.mode_after)}")
    lines += [f"    {field_line(fc, change.action)}" for fc in change.changes]
    return lines


def render_markdown(plan: Plan, *, title: str = "mailctl plan") -> str:
    """A pull-request comment: summary first, details in a diff block, long lists folded,
    always under GitHub's 65,536-character limit."""
    s = plan.summary
    head = [f"### {title}", ""]  # the title is ours; callers code-span untrusted parts
    if plan.converged:
        done = "**No changes.** The effective mail settings stay as they are."
        if plan.pending_syncs:
            from reconciler.reporters.targets import render_pending_markdown

            done += " Apply syncs the targets.\n\n" + render_pending_markdown(plan.pending_syncs)
        return "\n".join([*head, done])
    head.append(
        f"**{_summary_line(plan)}**"
        + (
            f" The host change cascades to **{len(plan.cascade)}** inheriting "
            f"org{'s' if len(plan.cascade) != 1 else ''}."
            if plan.cascade
            else ""
        )
    )
    head.append("")
    head.append("| create | update | delete | cascade | held |")
    head.append("|---:|---:|---:|---:|---:|")
    counts = (s["create"], s["update"], s["delete"], len(plan.cascade), len(plan.held))
    head.append("| " + " | ".join(str(n) for n in counts) + " |")
    head.append("")
    budget = MARKDOWN_BUDGET - sum(len(x) + 1 for x in head) - 2_000
    body: list[str] = []
    problems = [
        f"{md_code(h.scope)} is held ({md_code(h.reason)}): {md_code(h.message)}" for h in plan.held
    ]
    problems += [f"{md_code(h.scope)} is invalid: {md_code(h.message)}" for h in plan.invalid_files]
    if problems:
        body.append("> [!WARNING]")
        body += [f"> {p}" for p in problems[:20]]
        if len(problems) > 20:
            body.append(f"> … and {len(problems) - 20} more")
        body.append("")
    diff_lines: list[str] = []
    omitted = 0
    used = sum(len(x) + 1 for x in body)
    for change in plan.changes:
        chunk = _md_change(change)
        size = sum(len(x) + 1 for x in chunk)
        if used + size > budget * 0.7:
            omitted += 1
            continue
        diff_lines += chunk
        used += size
    if diff_lines:
        fence = md_fence(diff_lines)
        body += [
            "<details open><summary>Changes</summary>",
            "",
            f"{fence}diff",
            *diff_lines,
            fence,
        ]
        if omitted:
            body.append(f"\n… {omitted} more changes not shown (see `--format json`).")
        body += ["", "</details>", ""]
    if plan.pending_syncs:
        from reconciler.reporters.targets import render_pending_markdown

        body += [render_pending_markdown(plan.pending_syncs), ""]
    if plan.cascade:
        names: list[str] = []
        for c in plan.cascade:
            if used + len(c.scope) + 4 > budget:
                break
            names.append(f"`{c.scope}`")
            used += len(c.scope) + 4
        rest = len(plan.cascade) - len(names)
        body += [
            f"<details><summary>Cascade: {plural(len(plan.cascade), 'inheriting org')} "
            f"{'changes' if len(plan.cascade) == 1 else 'change'} with the host</summary>",
            "",
            ", ".join(names) + (f" … and {rest} more" if rest else ""),
            "",
            "</details>",
        ]
    return "\n".join(head + body)
