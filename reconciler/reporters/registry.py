"""Output formats: which reporter renders a kind of result under which ``--format`` name.

Each kind of result (``validation`` for ``validate``, ``plan`` for ``plan`` and ``diff``,
``apply``, ``status``, ...) has its formats registered here; ``--format`` offers exactly the
registered names (``format_option(PLAN)`` in ``reconciler.cli.options``) and every command
renders through :func:`render`, so a new format is one ``register`` call and no command
changes. Reporters are imported only when used, so the CLI's
start-up (the pre-commit case) stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

VALIDATION = "validation"
PLAN = "plan"
APPLY = "apply"
STATUS = "status"
EFFECTIVE = "effective"
PROBE = "probe"  # {"results": [outcome, ...]}
HISTORY = "history"
ROLLBACK = "rollback"  # {"history_id", "to", "scopes"}
SUSPENSION = "suspension"  # {"suspended", "reason", "at", "by"}


@dataclass(frozen=True, slots=True)
class RenderContext:
    """What a reporter may need beyond the result; each uses what applies to it."""

    color: bool = False
    strict: bool = False  # validate --strict: warnings fail
    title: str = "mailctl"  # plan/diff heading (Markdown), annotation title (github)
    extra: Mapping[str, Any] = field(default_factory=dict)  # JSON fields (diff: base, head)


Renderer = Callable[[Any, RenderContext], str]

REPORTER_BY_NAME: dict[str, dict[str, str]] = {}  # kind -> format -> "module:function"


def register(kind: str, name: str, target: str) -> None:
    """Register ``module:function`` (``(result, RenderContext) -> str``) as format ``name``
    of results of ``kind``."""
    REPORTER_BY_NAME.setdefault(kind, {})[name] = target


def formats(kind: str) -> tuple[str, ...]:
    """The ``--format`` choices of ``kind``, in registration order (the first is the
    default)."""
    return tuple(REPORTER_BY_NAME[kind])


def reporter(kind: str, name: str) -> Renderer:
    module, _, attr = REPORTER_BY_NAME[kind][name].partition(":")
    fn: Renderer = getattr(importlib.import_module(module), attr)
    return fn


def render(kind: str, name: str, result: Any, ctx: RenderContext) -> str:
    return reporter(kind, name)(result, ctx)


# ---------------------------------------------------------------- built-in formats


def validation_text(result: Any, ctx: RenderContext) -> str:
    from reconciler.reporters.validation import render_text

    return render_text(result, strict=ctx.strict, color=ctx.color)


def validation_json(result: Any, ctx: RenderContext) -> str:
    from reconciler.reporters.validation import render_json

    return render_json(result, strict=ctx.strict)


def plan_text(result: Any, ctx: RenderContext) -> str:
    from reconciler.reporters.plan import render_text

    return render_text(result, color=ctx.color, diff="base" in ctx.extra)  # diff: no store


def plan_json(result: Any, ctx: RenderContext) -> str:
    from reconciler.reporters.plan import render_json

    return render_json(result, **ctx.extra)


def plan_markdown(result: Any, ctx: RenderContext) -> str:
    from reconciler.reporters.escape import md_code
    from reconciler.reporters.plan import render_markdown

    title = ctx.title
    if "base" in ctx.extra:  # diff: the revisions as inline code
        head = ctx.extra.get("head") or "working tree"
        title = f"mailctl diff {md_code(ctx.extra['base'])}..{md_code(head)}"
    return render_markdown(result, title=title)


def payload_json(result: Any, ctx: RenderContext) -> str:
    """A payload that is already a JSON object (status, effective, history, ...)."""
    from reconciler.reporters import to_json

    return to_json(result)


def apply_text(result: Any, ctx: RenderContext) -> str:
    from reconciler.reporters.apply import render_text

    return render_text(result, color=ctx.color)


def apply_json(result: Any, ctx: RenderContext) -> str:
    from reconciler.reporters.apply import render_json

    return render_json(result)


def status_text(result: Any, ctx: RenderContext) -> str:
    from reconciler.reporters.status import render_status

    return render_status(result, color=ctx.color)


def probe_text(result: Any, ctx: RenderContext) -> str:
    from reconciler.reporters.status import render_probes

    return render_probes(result["results"])


def _plain(module: str, function: str) -> Renderer:
    """A reporter taking the result alone, as a registry renderer."""

    def render(result: Any, ctx: RenderContext) -> str:
        fn: Callable[[Any], str] = getattr(importlib.import_module(module), function)
        return fn(result)

    return render


effective_text = _plain("reconciler.reporters.status", "render_effective")
history_text = _plain("reconciler.reporters.status", "render_history")
rollback_text = _plain("reconciler.reporters.actions", "render_rollback")
suspension_text = _plain("reconciler.reporters.actions", "render_suspension")


_HERE = __name__
register(VALIDATION, "text", f"{_HERE}:validation_text")
register(VALIDATION, "json", f"{_HERE}:validation_json")
register(VALIDATION, "github", "reconciler.reporters.github:render_validation")
register(PLAN, "text", f"{_HERE}:plan_text")
register(PLAN, "json", f"{_HERE}:plan_json")
register(PLAN, "markdown", f"{_HERE}:plan_markdown")
register(PLAN, "github", "reconciler.reporters.github:render_plan")
register(APPLY, "text", f"{_HERE}:apply_text")
register(APPLY, "json", f"{_HERE}:apply_json")
register(STATUS, "text", f"{_HERE}:status_text")
register(PROBE, "text", f"{_HERE}:probe_text")
register(EFFECTIVE, "text", f"{_HERE}:effective_text")
register(HISTORY, "text", f"{_HERE}:history_text")
register(ROLLBACK, "text", f"{_HERE}:rollback_text")
register(SUSPENSION, "text", f"{_HERE}:suspension_text")
for _kind in (STATUS, PROBE, EFFECTIVE, HISTORY, ROLLBACK, SUSPENSION):
    register(_kind, "json", f"{_HERE}:payload_json")
