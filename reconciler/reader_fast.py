"""The reader's fast path: manifests written in the plain block-mapping subset of YAML.

Nearly every manifest is nothing but ``key: value`` lines, nested by indentation, with
comments and blank lines. For such a text libyaml's events, the node graph and the
node-by-node build cost ~10x what one pass over the lines costs. :func:`fast_parse` reads
exactly that subset and answers ``None`` for anything else (quotes, flow collections,
sequences, anchors, tags, block scalars, multi-line values, tabs, CR, non-ASCII, document
markers, duplicate keys, a key without a value, odd indentation, very long files), so the
full reader (:mod:`reconciler.reader`) decides every such text, with its diagnostics.

A text it accepts gives the same data, value positions and key positions as the full
reader (``tests/test_reader_fast.py`` compares the two on generated and mutated texts).
"""

from __future__ import annotations

import re
from typing import Any

PathT = tuple[str | int, ...]
Pos = tuple[int, int]

_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\Z")
_FLOAT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)(?:\.[0-9]*(?:[eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)\Z")

MAX_LINES = 400  # longer texts take the full reader (and its node caps)
MAX_DEPTH = 16

# One line of the subset: a blank or comment line, or ``key:`` (a nested mapping follows)
# or ``key: value``. Values: printable ASCII without any YAML indicator, starting with a
# letter or digit, ending with a non-space; or a one-line flow mapping of such values
# without spaces or commas (``password: {env: ACME_SMTP_PASSWORD}``). A comment may follow
# after whitespace.
_VALUE = r"[A-Za-z0-9](?:[A-Za-z0-9 ._@/+=,()-]*[A-Za-z0-9._@/+=,()-])?"
_FVALUE = r"[A-Za-z0-9][A-Za-z0-9._@/+=-]*"
_KEY = r"[A-Za-z][A-Za-z0-9_-]*"
_COMMENT = r"(?:(?<![^ ])#[ -~]*)?"
_LINE = re.compile(
    rf"(?P<indent> *)(?:(?P<key>{_KEY}):"
    rf"(?: +(?:(?P<value>{_VALUE})|(?P<flow>\{{[^{{}}]*\}})))?"
    rf")? *{_COMMENT}\Z"
)
_PAIR = re.compile(rf" *({_KEY}): +({_FVALUE}) *(?:,|\Z)")


def plain_scalar(value: str) -> Any:
    """YAML 1.2 JSON-schema typing of a plain scalar; anything else stays a string."""
    if value in _NULL:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if _INT.match(value):
        # Past Python's int-string limit it stays a string (the schema then reports it).
        return int(value) if len(value) <= 1000 else value
    if _FLOAT.match(value):
        return float(value)
    return value


# The values of the same grammar, for the shape memo: a text with its values cut out (the
# *shape*) fixes every key, position and nesting; only the values differ. In a flow
# mapping only the last value is cut out (the others' lengths move later positions).
_VALUE_LINE = re.compile(
    rf"^( *{_KEY}: +(\{{[^\n]*?: +)?)((?(2){_FVALUE}|{_VALUE}))( *(?(2)\}}) *{_COMMENT})$",
    re.MULTILINE,
)
_MEMO_MAX = 1024
# shape -> (data template with value slot numbers as leaves, positions, key positions)
_SHAPES: dict[str, tuple[dict[str, Any], dict[PathT, Pos], dict[PathT, Pos]]] = {}

Parsed = tuple[Any, dict[PathT, Pos], dict[PathT, Pos]]


def _fill(template: dict[str, Any], values: list[Any]) -> dict[str, Any]:
    return {k: values[v] if type(v) is int else _fill(v, values) for k, v in template.items()}


def _template(data: dict[str, Any], slots: dict[PathT, int], path: PathT) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        sub = (*path, key)
        out[key] = _template(value, slots, sub) if type(value) is dict else slots[sub]
    return out


def fast_parse(text: str) -> Parsed | None:
    """``(data, positions, key_positions)`` of a text in the subset, else ``None``.

    Texts of one shape (every default-mode org, say) are parsed once: the others only have
    their values cut out and typed. The position tables are shared between them (nothing
    mutates a document's tables)."""
    if not text.isascii() or "\r" in text or "\t" in text or "\x00" in text:
        return None
    parts = _VALUE_LINE.split(text)  # [other, prefix, flow prefix, value, suffix, ...]
    raw = parts[3::5]
    del parts[3::5]
    shape = "\x00".join([p or "" for p in parts])
    hit = _SHAPES.get(shape)
    if hit is not None:
        template, positions, key_positions = hit
        return _fill(template, [plain_scalar(v) for v in raw]), positions, key_positions
    parsed = _parse_lines(text)
    if parsed is None:
        return None
    data, positions, key_positions = parsed
    # The scalar slots in line order, and the texts the value regex cut out, must agree.
    order = sorted((pos, path) for path, pos in positions.items() if path in key_positions)
    slots = [path for _, path in order if not isinstance(_get(data, path), dict)]
    if len(slots) == len(raw) and all(
        _get(data, p) == plain_scalar(v) for p, v in zip(slots, raw, strict=True)
    ):
        if len(_SHAPES) >= _MEMO_MAX:
            _SHAPES.clear()
        _SHAPES[shape] = (
            _template(data, {p: i for i, p in enumerate(slots)}, ()),
            positions,
            key_positions,
        )
    return parsed


def _flow(
    text: str,
    path: PathT,
    line: int,
    column: int,
    positions: dict[PathT, Pos],
    key_positions: dict[PathT, Pos],
) -> dict[str, Any] | None:
    """``{k: v, ...}`` (``text`` with its braces; ``column``: 1-based, after the brace)."""
    inner = text[1:-1]
    out: dict[str, Any] = {}
    at = 0
    while at < len(inner):
        m = _PAIR.match(inner, at)
        if m is None or m.group(1) in out:
            return None
        key = m.group(1)
        out[key] = plain_scalar(m.group(2))
        key_positions[(*path, key)] = (line, column + m.start(1))
        positions[(*path, key)] = (line, column + m.start(2))
        at = m.end()
        if inner[at - 1 : at] == "," and at >= len(inner):
            return None  # a trailing comma: the full reader decides
    return out or None


def _get(data: Any, path: PathT) -> Any:
    for part in path:
        data = data[part]
    return data


def _parse_lines(text: str) -> Parsed | None:
    """One pass over the lines: the subset's grammar and nesting."""
    if not text.isascii() or "\r" in text or "\t" in text:
        return None
    lines = text.split("\n")
    if len(lines) > MAX_LINES:
        return None
    positions: dict[PathT, Pos] = {}
    key_positions: dict[PathT, Pos] = {}
    root: dict[str, Any] = {}
    # Open mappings: (indent, path, dict). ``pending``: a ``key:`` waiting for its mapping.
    stack: list[tuple[int, PathT, dict[str, Any]]] = []
    pending: tuple[PathT, dict[str, Any], str] | None = None
    match = _LINE.match
    for number, line in enumerate(lines, 1):
        m = match(line)
        if m is None:
            return None
        key = m.group("key")
        if key is None:
            continue  # blank or comment line
        indent = len(m.group("indent"))
        if pending is not None:
            parent_path, parent, pending_key = pending
            if stack and indent <= stack[-1][0]:
                return None  # ``key:`` with nothing below it: a null (full reader)
            if len(stack) >= MAX_DEPTH:
                return None
            child: dict[str, Any] = {}
            parent[pending_key] = child
            path = (*parent_path, pending_key)
            positions[path] = (number, indent + 1)
            stack.append((indent, path, child))
            pending = None
        elif not stack:
            if indent != 0:
                return None
            positions[()] = (number, 1)
            stack.append((0, (), root))
        else:
            while stack and indent < stack[-1][0]:
                stack.pop()
            if not stack or indent != stack[-1][0]:
                return None  # not aligned with any open mapping
        _, path, mapping = stack[-1]
        if key in mapping:
            return None  # duplicate key: the full reader reports it
        sub = (*path, key)
        key_positions[sub] = (number, indent + 1)
        value = m.group("value")
        if value is not None:
            mapping[key] = plain_scalar(value)
            positions[sub] = (number, m.start("value") + 1)
            continue
        flow = m.group("flow")
        if flow is None:
            mapping[key] = None  # placeholder keeps the key order; replaced below
            pending = (path, mapping, key)
            continue
        start = m.start("flow")
        inner = _flow(flow, sub, number, start + 2, positions, key_positions)
        if inner is None:
            return None
        mapping[key] = inner
        positions[sub] = (number, start + 1)
    if pending is not None or not stack:
        return None
    return root, positions, key_positions
