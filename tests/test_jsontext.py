"""``reporters.jsontext.dumps_indented`` is byte for byte ``json.dumps(value, indent=2)``."""

from __future__ import annotations

import json
import math
import random
from collections import OrderedDict
from enum import IntEnum, StrEnum
from typing import Any

import pytest

from reconciler.reporters import to_json
from reconciler.reporters.jsontext import dumps_indented


class Colour(StrEnum):
    RED = "red"


class Level(IntEnum):
    HIGH = 3


SCALARS: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -7,
    2**70,
    1.5,
    -0.0,
    1e300,
    math.inf,
    -math.inf,
    "",
    "plain",
    'quote " and \\ backslash',
    "tab\tnewline\n",
    "é ü \u2028 \U0001f600",
    "\x00\x1f",
    Colour.RED,
    Level.HIGH,
)


def _value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth > 4 or roll < 0.45:
        return rng.choice(SCALARS)
    size = rng.choice((0, 1, 2, 3, 5))
    if roll < 0.75:
        return {
            rng.choice(("a", "b", "key", "é", "", "x y")) + str(i): _value(rng, depth + 1)
            for i in range(size)
        }
    if roll < 0.9:
        return [_value(rng, depth + 1) for _ in range(size)]
    return tuple(_value(rng, depth + 1) for _ in range(size))


def test_random_documents_encode_exactly_like_json_dumps() -> None:
    rng = random.Random(3)
    for _ in range(3000):
        value = _value(rng, 0)
        assert dumps_indented(value) == json.dumps(value, indent=2)


@pytest.mark.parametrize(
    "value",
    [
        {1: "int key", "b": [1, 2]},
        {"a": OrderedDict(b=1)},
        [OrderedDict(b=[1])],
        {"nan": math.nan, "nested": {"deep": [[], {}, [[]]]}},
        "just a string",
        7,
    ],
)
def test_unusual_values_still_match(value: Any) -> None:
    assert dumps_indented(value) == json.dumps(value, indent=2)


def test_unencodable_values_raise_like_json() -> None:
    with pytest.raises(TypeError):
        dumps_indented({"a": {"b": object()}})


def test_reports_keep_format_version_first() -> None:
    text = to_json({"changes": [{"field": "smtp.host", "before": None, "after": "h"}]})
    assert text == json.dumps(
        {
            "format_version": "1.0",
            "changes": [{"field": "smtp.host", "before": None, "after": "h"}],
        },
        indent=2,
    )
