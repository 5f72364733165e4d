"""Escaping of text that comes from users or servers, for the medium it is shown in.

Suspend reasons, revisions, actors, file names, diagnostics and SMTP server replies are
untrusted: in a terminal a control character can move the cursor, clear lines or forge a
whole output line; in a pull-request comment raw HTML/Markdown can close our
``<details>``, embed images or mention people. Reporters pass every such value through
:func:`term` (text output) or :func:`md_code` (Markdown). JSON needs nothing: the encoder
escapes control characters itself.
"""

from __future__ import annotations

import re

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}
# C0 and C1 controls, DEL, and the format characters that reorder or split what a
# terminal shows: line/paragraph separators, bidi marks, embeddings, overrides, isolates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    ch = match.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def term(value: object) -> str:
    """One line of terminal text: every control or bidi character shown as an escape."""
    return _UNSAFE.sub(_visible, "" if value is None else str(value))


_BACKTICKS = re.compile("`+")


def md_code(value: object) -> str:
    """Untrusted text as an inline Markdown code span: no HTML, no Markdown, no mentions,
    no line breaks, whatever it contains (the fence is longer than any backtick run)."""
    text = term(value)
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_fence(lines: list[str]) -> str:
    """A code-fence marker longer than any backtick run in ``lines`` (at least three)."""
    longest = max((len(m) for line in lines for m in _BACKTICKS.findall(line)), default=0)
    return "`" * max(3, longest + 1)
