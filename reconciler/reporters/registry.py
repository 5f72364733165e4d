"""Output formats: which reporter renders a kind of result under which ``--format`` name.

Each kind of result (``validation`` for ``validate``, ``plan`` for ``plan`` and ``diff``)
has its formats registered here; ``--format`` offers exactly the registered names
(``format_option(*formats("plan"))``) and the commands render through :func:`render`, so a
new format is one ``register`` call. Reporters are imported only when used, so the CLI's
start-up (the pre-commit case) stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

VALIDATION = "validation"
PLAN = "plan"


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
    from reconciler.reporters.plan import render_markdown

    return render_markdown(result, title=ctx.title)


_HERE = __name__
register(VALIDATION, "text", f"{_HERE}:validation_text")
register(VALIDATION, "json", f"{_HERE}:validation_json")
register(VALIDATION, "github", "reconciler.reporters.github:render_validation")
register(PLAN, "text", f"{_HERE}:plan_text")
register(PLAN, "json", f"{_HERE}:plan_json")
register(PLAN, "markdown", f"{_HERE}:plan_markdown")
register(PLAN, "github", "reconciler.reporters.github:render_plan")
