"""``reconciler.reader``: YAML 1.2 typing, positions, caps and the folder scan."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from reconciler.reader import (
    MAX_ALIASES,
    discover,
    discover_names,
    read_bytes,
    read_file,
    read_text,
)


def _value(text: str) -> Any:
    result = read_text(f"v: {text}\n", "t.yaml")
    assert result.diagnostics == (), result.diagnostics
    assert result.document is not None
    return result.document.data["v"]


@pytest.mark.parametrize(
    ("scalar", "expected"),
    [
        # YAML 1.1 surprises stay strings
        ("no", "no"),
        ("on", "on"),
        ("off", "off"),
        ("yes", "yes"),
        ("y", "y"),
        ("NO", "NO"),
        ("22:22", "22:22"),
        ("0755", "0755"),
        ("0o755", "0o755"),
        ("0x1F", "0x1F"),
        ("1_000", "1_000"),
        ("+.inf", "+.inf"),
        (".nan", ".nan"),
        ("2001-12-14", "2001-12-14"),
        ("=", "="),
        # YAML 1.2 JSON schema
        ("true", True),
        ("False", False),
        ("~", None),
        ("null", None),
        ("", None),
        ("587", 587),
        ("-1", -1),
        ("0", 0),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        # quoting always means string
        ("'true'", "true"),
        ('"587"', "587"),
        ("'~'", "~"),
        ("|\n  587\n", "587\n"),
        # explicit core tags agree with the value
        ("!!str 587", "587"),
        ("!!int 587", 587),
        ("!!bool true", True),
        ("!!float 1.5", 1.5),
        ("!!null ~", None),
    ],
)
def test_scalar_typing(scalar: str, expected: Any) -> None:
    value = _value(scalar)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize("scalar", ["!!int yes", "!!bool on", "!!float abc", "!!null x"])
def test_core_tag_disagreeing_with_the_value_is_rejected(scalar: str) -> None:
    result = read_text(f"v: {scalar}\n", "t.yaml")
    assert result.document is None
    assert [(d.rule, d.line, d.column) for d in result.diagnostics] == [("yaml.tag", 1, 4)]


def test_huge_integer_stays_a_string() -> None:
    assert _value("9" * 5000) == "9" * 5000


def test_positions_of_values_and_keys() -> None:
    text = "a:\n  b: 1\n  c:\n    - x\n    - {d: e}\n"
    doc = read_text(text, "t.yaml").document
    assert doc is not None
    assert doc.pos(("a", "b")) == (2, 6)
    assert doc.key_pos(("a", "b")) == (2, 3)
    assert doc.pos(("a", "c", 1)) == (5, 7)
    assert doc.pos(("a", "c", 1, "d")) == (5, 11)
    assert doc.key_pos(("a", "c", 1, "d")) == (5, 8)
    # missing paths fall back to the nearest existing ancestor
    assert doc.pos(("a", "c", 1, "zzz")) == (5, 7)
    assert doc.pos(("nope",)) == (1, 1)


def test_bom_and_crlf_keep_positions() -> None:
    raw = "\ufeffa: 1\r\nb:\r\n  c: 2\r\n".encode()
    doc = read_bytes(raw, "t.yaml").document
    assert doc is not None
    assert doc.data == {"a": 1, "b": {"c": 2}}
    assert doc.pos(("b", "c")) == (3, 6)


def test_duplicate_key_names_both_lines() -> None:
    (d,) = read_text("a: 1\nb: 2\na: 3\n", "t.yaml").diagnostics
    assert (d.rule, d.line, d.column, d.path) == ("yaml.duplicate-key", 3, 1, "$.a")
    assert "line 1" in d.message


def test_aliases_below_the_cap_are_expanded() -> None:
    refs = ", ".join(["*x"] * MAX_ALIASES)
    doc = read_text(f"a: &x 1\nb: [{refs}]\n", "t.yaml").document
    assert doc is not None
    assert doc.data["b"] == [1] * MAX_ALIASES


def test_alias_cap_points_at_the_alias_not_the_anchor() -> None:
    refs = ", ".join(["*x"] * (MAX_ALIASES + 1))
    (d,) = read_text(f"a: &x 1\n\nbb: [{refs}]\n", "t.yaml").diagnostics
    assert (d.rule, d.line) == ("yaml.aliases", 3)


def test_merge_keys_are_not_special() -> None:
    doc = read_text("base: &b {x: 1}\nc:\n  <<: *b\n", "t.yaml").document
    assert doc is not None
    assert doc.data["c"] == {"<<": {"x": 1}}


def test_reading_never_raises_on_random_bytes() -> None:
    import random

    rng = random.Random(2)
    alphabet = b"ab:- \n\t{}[]&*!|>'\"#%@`?,0123456789\xc3\xa9\xff"
    for _ in range(400):
        raw = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        result = read_bytes(raw, "r.yaml")
        assert (result.document is None) == bool(result.diagnostics)
        for d in result.diagnostics:
            assert d.line >= 1 and d.column >= 1


def test_fifo_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    (d,) = read_file(fifo).diagnostics  # would block forever if opened
    assert d.rule == "file.unreadable"


def test_missing_file(tmp_path: Path) -> None:
    (d,) = read_file(tmp_path / "nope.yaml", "nope.yaml").diagnostics
    assert (d.rule, d.file) == ("file.unreadable", "nope.yaml")


def test_discover_walks_recursively_sorted_and_skips_hidden(tmp_path: Path) -> None:
    for rel in ["b.yaml", "a.yml", "sub/c.yaml", "sub/notes.txt", ".hidden.yaml", ".git/x.yaml"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("a: 1\n")
    found = [Path(p).relative_to(tmp_path).as_posix() for p, _, _ in discover([tmp_path])]
    assert found == ["a.yml", "b.yaml", "sub/c.yaml"]
    # the daemon's names-only walk finds the same names, in the same order
    assert list(discover_names(tmp_path)) == [n for _, n, _ in discover([tmp_path])]


def test_discover_reports_escaping_symlinks_only(tmp_path: Path) -> None:
    root = tmp_path / "configs"
    (root / "orgs").mkdir(parents=True)
    (root / "orgs" / "real.yaml").write_text("a: 1\n")
    (tmp_path / "outside.yaml").write_text("a: 1\n")
    (root / "inside.yaml").symlink_to(root / "orgs" / "real.yaml")
    (root / "escape.yaml").symlink_to(tmp_path / "outside.yaml")
    (root / "dangling.yaml").symlink_to(tmp_path / "missing.yaml")
    (root / "dirlink").symlink_to(tmp_path, target_is_directory=True)  # not followed
    problems = {Path(p).name: pre and pre.rule for p, _, pre in discover([root])}
    assert problems == {
        "dangling.yaml": "file.symlink-escape",
        "escape.yaml": "file.symlink-escape",
        "inside.yaml": None,
        "real.yaml": None,
    }


def test_given_file_is_used_as_is(tmp_path: Path) -> None:
    f = tmp_path / "x.txt"
    f.write_text("a: 1\n")
    assert [(p, pre) for p, _, pre in discover([f])] == [(f, None)]
