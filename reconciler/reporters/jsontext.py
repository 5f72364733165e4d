"""``json.dumps(value, indent=2)``, byte for byte, at C speed for the flat parts.

With ``indent`` set, the standard library encodes in pure Python (its C encoder has no
indentation): a 10,000-scope ``apply --format json`` report (~10 MB) spent about a second
there. Here every container whose items are all scalars (a field change, a diagnostic, the
list of written scopes) goes through the C encoder in one call, with the item separator
carrying the newline and the indentation; only containers that hold containers are walked
in Python. Anything unusual (a non-string key, an unknown type) is left to ``json.dumps``.
"""

from __future__ import annotations

import json
from json.encoder import (  # type: ignore[attr-defined]
    c_make_encoder,
    encode_basestring_ascii,
)
from typing import Any

_CONTAINERS = (dict, list, tuple)
_INDENT = "  "


class _Unusual(Exception):
    pass


def _default(value: Any) -> Any:
    raise _Unusual


_flat_encoders: dict[int, Any] = {}


def _flat(level: int) -> Any:
    """The C encoder whose item separator is the newline plus this level's indentation."""
    enc = _flat_encoders.get(level)
    if enc is None:
        if c_make_encoder is None:  # pragma: no cover - CPython always has it
            raise _Unusual
        enc = c_make_encoder(
            None,
            _default,
            encode_basestring_ascii,
            None,
            ": ",
            ",\n" + _INDENT * level,
            False,
            False,
            True,
        )
        _flat_encoders[level] = enc
    return enc


def _encode(value: Any, level: int) -> str:
    """``value`` (a dict, list or tuple) at nesting ``level`` (its items one deeper)."""
    inner = _INDENT * (level + 1)
    kind = type(value)
    if kind is not dict and kind is not list and kind is not tuple:
        raise _Unusual  # a subclass: json.dumps decides
    if kind is dict:
        if not value:
            return "{}"
        for k in value:
            if type(k) is not str:
                raise _Unusual
        nested = False
        for v in value.values():
            if isinstance(v, _CONTAINERS):
                nested = True
                break
        if not nested:
            flat = "".join(_flat(level + 1)(value, 0))
            return "{\n" + inner + flat[1:-1] + "\n" + _INDENT * level + "}"
        parts = [
            encode_basestring_ascii(k)
            + ": "
            + (_encode(v, level + 1) if isinstance(v, _CONTAINERS) else _scalar(v))
            for k, v in value.items()
        ]
        return "{\n" + inner + (",\n" + inner).join(parts) + "\n" + _INDENT * level + "}"
    if not value:
        return "[]"
    nested = False
    for v in value:
        if isinstance(v, _CONTAINERS):
            nested = True
            break
    if not nested:
        flat = "".join(_flat(level + 1)(list(value), 0))
        return "[\n" + inner + flat[1:-1] + "\n" + _INDENT * level + "]"
    parts = [_encode(v, level + 1) if isinstance(v, _CONTAINERS) else _scalar(v) for v in value]
    return "[\n" + inner + (",\n" + inner).join(parts) + "\n" + _INDENT * level + "]"


def _scalar(value: Any) -> str:
    flat = "".join(_flat(0)([value], 0))
    return flat[1:-1]


def dumps_indented(value: Any) -> str:
    """Exactly ``json.dumps(value, indent=2)``."""
    if not isinstance(value, _CONTAINERS):
        return json.dumps(value, indent=2)
    try:
        return _encode(value, 0)
    except _Unusual:
        return json.dumps(value, indent=2)
