"""Rendering of validation results: ``file:line:col: severity: message [rule]``."""

from __future__ import annotations

from reconciler.diagnostics import CheckResult
from reconciler.reporters import style, to_json
from reconciler.reporters.escape import term


def render_text(result: CheckResult, *, strict: bool, color: bool) -> str:
    lines = []
    for d in result.sorted():
        sev = style(d.severity.value, color, fg="red" if d.is_error else "yellow", bold=True)
        lines.append(f"{term(d.file)}:{d.line}:{d.column}: {sev}: {term(d.message)} [{d.rule}]")
        if d.hint:
            lines.append(f"    hint: {term(d.hint)}")
    errors, warnings = len(result.errors), len(result.warnings)
    files = len(result.files)
    noun = "file" if files == 1 else "files"
    skipped = len(result.skipped)
    if skipped:
        lines.append(
            f"{skipped} {'file' if skipped == 1 else 'files'} skipped: not mailctl manifests."
        )
    if result.valid(strict=strict):
        tail = f" ({warnings} warning{'s' if warnings != 1 else ''})" if warnings else ""
        lines.append(style(f"{files} {noun} valid{tail}.", color, fg="green"))
    else:
        why = "" if errors or not strict else " (warnings fail with --strict)"
        lines.append(
            style(
                f"{files} {noun} checked: {errors} error{'s' if errors != 1 else ''}, "
                f"{warnings} warning{'s' if warnings != 1 else ''}{why}.",
                color,
                fg="red",
            )
        )
    return "\n".join(lines)


def render_json(result: CheckResult, *, strict: bool) -> str:
    return to_json(
        {
            "valid": result.valid(strict=strict),
            "files": len(result.files),
            "skipped": list(result.skipped),
            "diagnostics": [d.to_dict() for d in result.sorted()],
        }
    )
