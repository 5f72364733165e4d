"""Rendering of apply results: the plan that was applied, held scopes, probe outcomes."""

from __future__ import annotations

from typing import Any

from reconciler.reconcile import ApplyResult
from reconciler.reporters import plural, style, to_json
from reconciler.reporters.escape import term
from reconciler.reporters.plan import plan_payload
from reconciler.reporters.plan import render_text as render_plan_text
from reconciler.reporters.status import render_probes


def render_text(result: ApplyResult, *, color: bool) -> str:
    parts = [render_plan_text(result.plan, color=color)]
    if result.written:
        parts.append(
            style(
                f"Apply complete! {plural(len(result.written), 'scope')} written at revision "
                f"{term(result.revision)}.",
                color,
                fg="green",
                bold=True,
            )
        )
    if result.probes:
        parts.append(render_probes(result.probes))
    if result.targets is not None and result.targets.targets:
        from reconciler.reporters.targets import render_sync

        parts.append(render_sync(result.targets))
    return "\n\n".join(parts)


def render_json(result: ApplyResult) -> str:
    payload: dict[str, Any] = {
        "revision": result.revision,
        "history_id": result.history_id,
        "written": result.written,
        **plan_payload(result.plan),
        "probes": result.probes,
        **({"targets": result.targets.to_dict()} if result.targets is not None else {}),
        "exit_code": int(result.exit_code),
    }
    return to_json(payload)
