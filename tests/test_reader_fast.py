"""The reader's fast path (``reader_fast``) agrees with the full libyaml reader.

Every text the fast path accepts must give exactly the full reader's data, value positions
and key positions; every other text must be left to the full reader. Checked on the
repository's manifests, the benchmark generator's shapes and thousands of mutations of them
(YAML indicators, quotes, tabs, CR, non-ASCII, odd indentation, duplicates, nulls...).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bench.gen import AUTH, CUSTOM_ORG, DEFAULT_ORG, HOST
from reconciler import reader_fast
from reconciler.reader import read_text, read_text_full
from reconciler.reader_fast import fast_parse

REPO = Path(__file__).resolve().parent.parent

SNIPPETS = (
    " ",
    "  ",
    "   ",
    ":",
    ": ",
    "#",
    " #x",
    " # c: d",
    "\n",
    "\n  ",
    "\n    ",
    "\t",
    "'",
    '"',
    "-",
    "- ",
    "{",
    "}",
    "[",
    "]",
    ",",
    "&a ",
    "*a",
    "!!str ",
    "!x ",
    "|",
    ">",
    "?",
    "? ",
    "%",
    "@",
    "`",
    "~",
    "null",
    "Null",
    "yes",
    "no",
    "on",
    "0755",
    "0x1F",
    "22:22",
    "1e3",
    ".5",
    "1.0",
    "-1",
    "+2",
    "true",
    "\r",
    "\r\n",
    "é",
    "\u2028",
    "\x85",
    "\ufeff",
    "---\n",
    "...\n",
    "a: b\n",
    "name: x\n",
    "  name: y\n",
    "spec:\n",
    "x:\n",
    "k: v #c\n",
    "=",
    "(",
    "/",
    "\\",
    "http://h:1/p",
    "a b",
    "  ",
    "\x0b",
    "\x0c",
    "{env: A}",
    "{a: b, c: d}",
    "{a: b,}",
    "{}",
    "{ a: b }",
    "{a:b}",
    "{a: b c}",
    "{a: {b: c}}",
    " {x: y}",
    "}",
    "{a: [b]}",
)


def _corpus() -> list[str]:
    texts = [p.read_text() for d in ("configs", "examples") for p in (REPO / d).rglob("*.y*ml")]
    texts += [
        "a:\n  password: {env: ACME_SMTP_PASSWORD}\n  b: c\n",
        "a:\n  password: {file: orgs/acme/smtp}  # c\nz: {env: X, file: Y}\n",
        HOST.format(port=2525),
        DEFAULT_ORG.format(name="org-00001"),
        CUSTOM_ORG.format(name="acme", title="Acme", auth=""),
        CUSTOM_ORG.format(
            name="acme", title="Acme", auth=AUTH.format(name="acme", env="ACME_SMTP_PASSWORD")
        ),
    ]
    return texts


def _same(text: str) -> tuple[bool, bool]:
    """(fast path taken, agrees with the full reader)."""
    fast = fast_parse(text)
    if fast is None:
        return False, True
    full = read_text_full(text, "f.yaml")
    if full.document is None:
        return True, False
    doc = full.document
    return True, (doc.data, doc.positions, doc.key_positions) == fast


def _mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(1, 3)):
        op = rng.random()
        at = rng.randrange(len(text) + 1)
        if op < 0.6:
            text = text[:at] + rng.choice(SNIPPETS) + text[at:]
        elif op < 0.8:
            text = text[:at] + text[at + rng.randint(1, 4) :]
        else:  # re-indent one line
            lines = text.split("\n")
            i = rng.randrange(len(lines))
            lines[i] = " " * rng.randint(0, 6) + lines[i].lstrip(" ")
            text = "\n".join(lines)
    return text


def test_repository_manifests_and_generated_shapes_agree() -> None:
    taken = 0
    for text in _corpus():
        fast, same = _same(text)
        assert same, text
        taken += fast
    assert taken >= 5  # the plain ones do take the fast path


def test_mutations_agree_or_fall_back() -> None:
    rng = random.Random(20261130)
    corpus = _corpus()
    taken = 0
    for _ in range(6000):
        text = _mutate(rng, rng.choice(corpus))
        fast, same = _same(text)
        assert same, repr(text)
        taken += fast
    # Not hollow: a good share of the mutated texts are still plain and take the fast path.
    assert taken > 600


def test_texts_of_one_shape_share_position_tables_but_not_data() -> None:
    reader_fast._SHAPES.clear()
    a = fast_parse(DEFAULT_ORG.format(name="alpha"))
    b = fast_parse(DEFAULT_ORG.format(name="beta"))
    assert a is not None and b is not None
    assert a[0]["metadata"]["name"] == "alpha" and b[0]["metadata"]["name"] == "beta"
    assert a[0]["metadata"] is not b[0]["metadata"]
    assert a[1] is b[1] and a[2] is b[2]
    full = read_text_full(DEFAULT_ORG.format(name="beta"), "x").document
    assert full is not None and (full.data, full.positions, full.key_positions) == b


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("a: 1\na: 2\n", "yaml.duplicate-key"),
        ("a: 1\n  b: 2\n", "yaml.syntax"),
        ("", "yaml.empty"),
        ("# only a comment\n", "yaml.empty"),
        ("a: b\nc\n", "yaml.syntax"),
    ],
)
def test_bad_texts_keep_the_full_readers_diagnostics(text: str, rule: str) -> None:
    assert fast_parse(text) is None
    got = read_text(text, "bad.yaml")
    assert got.document is None and [d.rule for d in got.diagnostics] == [rule]
    assert got == read_text_full(text, "bad.yaml")


def test_yaml_12_scalars_are_typed_like_the_full_reader() -> None:
    text = "a: no\nb: on\nc: 0755\nd: 1e3\ne: 1.5\nf: null\ng: true\ni: 10.0.0.1\n"
    fast = fast_parse(text)
    assert fast is not None
    assert fast[0] == {
        "a": "no",
        "b": "on",
        "c": "0755",
        "d": 1000.0,
        "e": 1.5,
        "f": None,
        "g": True,
        "i": "10.0.0.1",
    }
    full = read_text_full(text, "x").document
    assert full is not None and full.data == fast[0]
