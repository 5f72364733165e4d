"""GitHub Actions workflow commands (``--format github``) for ``validate``, ``plan``, ``diff``.

Each diagnostic becomes an annotation on its file and line in the pull request
(``::error file=…,line=…,col=…,title=…::message``; warnings as ``::warning``, errors too
under ``--strict``); a plan becomes a ``::notice`` with its summary, one notice per changed
scope on its manifest, and an ``::error`` per held scope or broken file. No problem matcher
is needed. All text is escaped by the runner's rules (``%``, CR and LF everywhere; ``:``
and ``,`` too in properties), so a message can neither break its line nor start another
command.
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.diagnostics import CheckResult, Diagnostic
from reconciler.plan import Action, Plan, ScopeChange
from reconciler.reporters.plan import VERB, field_line
from reconciler.reporters.registry import RenderContext

MAX_CHANGE_NOTICES = 20  # GitHub shows 10 per type and step; the rest stay in the log
MAX_FIELDS = 10


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(
    name: str,
    message: str,
    *,
    file: str | None = None,
    line: int | None = None,
    col: int | None = None,
    title: str | None = None,
) -> str:
    """``::name k=v,...::message`` with every part escaped."""
    props = [
        (k, v)
        for k, v in (("file", file), ("line", line), ("col", col), ("title", title))
        if v is not None
    ]
    head = ",".join(f"{k}={escape_property(str(v))}" for k, v in props)
    return f"::{name}{' ' + head if head else ''}::{escape_data(message)}"


def _diagnostic(d: Diagnostic, *, strict: bool, title: str) -> str:
    level = "error" if d.is_error or strict else "warning"
    message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
    if d.path and d.path != "$":
        message += f"\nat {d.path}"
    return command(
        level, message, file=d.file, line=d.line, col=d.column, title=f"{title}: {d.rule}"
    )


def render_validation(result: CheckResult, ctx: RenderContext) -> str:
    title = ctx.title if ctx.title != "mailctl" else "mailctl validate"
    lines = [_diagnostic(d, strict=ctx.strict, title=title) for d in result.sorted()]
    errors, warnings, files = len(result.errors), len(result.warnings), len(result.files)
    summary = f"{files} file{'s' if files != 1 else ''} checked: {errors} error" + (
        f"{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}."
    )
    lines.append(summary if not result.valid(strict=ctx.strict) else f"{summary} Valid.")
    return "\n".join(lines)


def _summary(plan: Plan) -> str:
    s = plan.summary
    text = f"Plan: {s['create']} to create, {s['update']} to update, {s['delete']} to delete."
    if plan.cascade:
        n = len(plan.cascade)
        text += f" The host change cascades to {n} inheriting org{'s' if n != 1 else ''}."
    if plan.held:
        text += f" {len(plan.held)} held."
    return text


def _change(change: ScopeChange, title: str) -> str:
    fields = [field_line(fc, change.action) for fc in change.changes]
    if change.action is Action.CREATE and change.mode_after:
        fields.insert(0, f"+ mode: {change.mode_after}")
    shown = fields[:MAX_FIELDS]
    if len(fields) > MAX_FIELDS:
        shown.append(f"… and {len(fields) - MAX_FIELDS} more fields")
    drift = " (drift: the store was edited outside mailctl)" if change.drift else ""
    message = f"{change.scope} {VERB[change.action]}{drift}" + "".join(
        f"\n{line}" for line in shown
    )
    # A deleted manifest is no longer in the head revision: no file to annotate.
    where = change.source_file if change.action is not Action.DELETE else None
    return command("notice", message, file=where, title=f"{title}: {change.scope}")


def _problems(plan: Plan, title: str) -> Iterable[str]:
    entries = [(h, False) for h in plan.held] + [(h, True) for h in plan.invalid_files]
    for held, unassigned in entries:
        errors = [d for d in held.diagnostics if d.is_error]
        what = f"{held.scope} is held at its last applied settings ({held.reason})"
        if unassigned:
            what = f"{held.scope} is invalid and defines no scope yet"
        if not errors:
            yield command("error", f"{what}: {held.message}", title=f"{title}: {held.scope}")
            continue
        for d in errors:
            message = f"{what}: {d.message} [{d.rule}]" + (f"\nhint: {d.hint}" if d.hint else "")
            yield command(
                "error", message, file=d.file, line=d.line, col=d.column, title=f"{title}: {d.rule}"
            )


def render_plan(plan: Plan, ctx: RenderContext) -> str:
    title = ctx.title if ctx.title != "mailctl" else "mailctl plan"
    lines = list(_problems(plan, title))
    if plan.set_error:
        lines.append(
            command("error", "The manifest set is invalid: nothing would change.", title=title)
        )
    if not plan.has_changes:
        held = " (some scopes are held, see above)" if plan.held or plan.invalid_files else ""
        lines.append(command("notice", f"No changes{held}.", title=title))
        return "\n".join(lines)
    lines.append(command("notice", _summary(plan), title=title))
    changes = list(plan.changes)
    lines += [_change(c, title) for c in changes[:MAX_CHANGE_NOTICES]]
    if len(changes) > MAX_CHANGE_NOTICES:
        rest = len(changes) - MAX_CHANGE_NOTICES
        lines.append(
            command("notice", f"… and {rest} more changes (see --format json).", title=title)
        )
    if plan.cascade:
        names = ", ".join(c.scope for c in plan.cascade[:MAX_CHANGE_NOTICES])
        more = len(plan.cascade) - MAX_CHANGE_NOTICES
        names += f" … and {more} more" if more > 0 else ""
        lines.append(
            command("notice", f"Inheriting orgs that change with the host: {names}", title=title)
        )
    return "\n".join(lines)
