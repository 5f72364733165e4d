"""Reporters render core results as text, JSON or Markdown; they compute nothing."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

FORMAT_VERSION = "1.0"


def use_color(stream: Any = None) -> bool:
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR") is not None:
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def style(text: str, color: bool, **kwargs: Any) -> str:
    return click.style(text, **kwargs) if color else text


def plural(n: int, word: str, words: str | None = None) -> str:
    """``plural(1, "scope")`` -> ``1 scope``; ``plural(2, "scope")`` -> ``2 scopes``."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def to_json(payload: dict[str, Any]) -> str:
    """``json.dumps(..., indent=2)`` of the payload with its ``format_version`` first."""
    from reconciler.reporters.jsontext import dumps_indented

    return dumps_indented({"format_version": FORMAT_VERSION, **payload})
