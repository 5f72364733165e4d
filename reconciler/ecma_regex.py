"""ECMA-262 regular expressions evaluated with Python's ``re``, as JSON Schema requires.

JSON Schema ``pattern`` is an ECMA-262 regex, and editors (yaml-language-server is
JavaScript) evaluate it that way. Python's ``re`` differs where it matters for validation:
``$`` also matches *before a final newline*, so ``^[a-z]+$`` accepts ``"acme\\n"``; ``.``
matches ``\\r``; ``\\d``/``\\w``/``\\s`` are Unicode-wide. :func:`compile_ecma` rewrites
those constructs so both sides accept exactly the same values (the schemas stay plain
ECMA-262 for editors). Only the non-``u``, non-multiline subset the schemas use is covered.
"""

from __future__ import annotations

import re
from functools import cache

# ECMA-262 WhiteSpace + LineTerminator (what ``\s`` matches in JavaScript).
_WS = r"\t\n\x0b\x0c\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_IN_CLASS = {"d": "0-9", "w": "A-Za-z0-9_", "s": _WS}
_OUTSIDE = {
    "d": "[0-9]",
    "D": "[^0-9]",
    "w": "[A-Za-z0-9_]",
    "W": "[^A-Za-z0-9_]",
    "s": f"[{_WS}]",
    "S": f"[^{_WS}]",
}
_DOT = r"[^\n\r\u2028\u2029]"
_END = r"\Z"  # end of input only: ECMA ``$`` without the m flag


def translate(pattern: str) -> str:
    """The Python ``re`` source that matches what ``pattern`` matches in ECMA-262."""
    out: list[str] = []
    in_class = False
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if in_class and nxt in _IN_CLASS:
                out.append(_IN_CLASS[nxt])
            elif not in_class and nxt in _OUTSIDE:
                out.append(_OUTSIDE[nxt])
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
            elif ch == "[":
                ch = r"\["  # a literal in ECMA; a nested-set warning in Python
            out.append(ch)
        elif ch == "[":
            in_class = True
            out.append(ch)
            # ``[]`` / ``[^]`` and a leading ``]`` are literal-first in Python, not ECMA;
            # the schemas use neither, so keep the text as written.
            if pattern.startswith("^", i + 1):
                out.append("^")
                i += 1
        elif ch == "$":
            out.append(_END)
        elif ch == ".":
            out.append(_DOT)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


@cache
def compile_ecma(pattern: str) -> re.Pattern[str]:
    return re.compile(translate(pattern))


def ecma_search(pattern: str, value: str) -> bool:
    """``new RegExp(pattern).test(value)`` (unanchored search, like JSON Schema)."""
    return compile_ecma(pattern).search(value) is not None
