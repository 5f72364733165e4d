"""``reconciler.ecma_regex`` and the schemas' ``pattern`` keywords: whole values only.

Every ``pattern`` in ``schemas/`` is walked: its examples match, and the same example with
a trailing newline (the Python ``$`` bypass) does not, in our validator and in JavaScript
(node, the engine editors use through yaml-language-server).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.ecma_regex import ecma_search, translate
from reconciler.validate import validate_paths
from tests import manifests
from tests.realservers import require_program

REPO = Path(__file__).resolve().parent.parent
SCHEMA_FILES = sorted((REPO / "schemas").glob("*.schema.json"))


def _patterns(node: Any, where: str) -> Iterator[tuple[str, str, list[Any]]]:
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            yield where, node["pattern"], list(node.get("examples", []))
        for key, sub in node.items():
            yield from _patterns(sub, f"{where}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from _patterns(sub, f"{where}/{i}")


PATTERNS = [
    (f"{p.name}#{where}", pattern, examples)
    for p in SCHEMA_FILES
    for where, pattern, examples in _patterns(json.loads(p.read_text("utf-8")), "")
]
TAILS = ("\n", "\r\n", "\r", "\u2028", "\x00", "\x1b[31m")


def test_the_schemas_have_patterns_to_walk() -> None:
    assert len({p for _, p, _ in PATTERNS}) >= 6
    assert len(PATTERNS) >= 3 * 6  # defs plus the two bundles


@pytest.mark.parametrize(
    ("where", "pattern", "examples"), PATTERNS, ids=[w for w, _, _ in PATTERNS]
)
def test_every_pattern_matches_whole_values_only(
    where: str, pattern: str, examples: list[Any]
) -> None:
    samples = [e for e in examples if isinstance(e, str)]
    assert samples, f"{where}: a pattern needs string examples to be tested"
    for value in samples:
        assert ecma_search(pattern, value), f"{where}: example {value!r} must match"
        assert not ecma_search(pattern, value + "\n"), f"{where}: {value!r}+newline matched"
        assert not ecma_search(pattern, value + "\r\n")


def test_python_re_alone_would_accept_the_trailing_newline() -> None:
    """The bug the translation exists for: plain ``re`` lets ``acme\\n`` through."""
    import re

    assert re.search("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", "acme\n")
    assert not ecma_search("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", "acme\n")


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("^a$", "a", True),
        ("^a$", "a\n", False),
        ("^a.c$", "a\rc", False),  # ECMA '.' excludes \r
        ("^a.c$", "abc", True),
        ("^\\d+$", "١٢", False),  # Arabic-Indic digits are no \d in ECMA
        ("^\\w+$", "é", False),
        ("^[^@\\s]+$", "a\x1cb", True),  # \x1c is whitespace in Python, not in ECMA
        ("^[^@\\s]+$", "a\ufeffb", False),  # U+FEFF is whitespace in ECMA
        ("^\\$[a-z]$", "$a", True),  # an escaped dollar stays a literal
        ("^[$]$", "$", True),  # so does one inside a class
    ],
)
def test_translation_follows_ecma_semantics(pattern: str, value: str, expected: bool) -> None:
    assert ecma_search(pattern, value) is expected, translate(pattern)


def _node_results(cases: list[tuple[str, str]]) -> list[bool]:
    node = require_program("MAILCTL_REQUIRE_LSP", "node", "install nodejs (yaml-language-server)")
    script = (
        "const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "process.stdout.write(JSON.stringify(cases.map(([p, v]) => new RegExp(p).test(v))));"
    )
    out = subprocess.run(
        [node, "-e", script], input=json.dumps(cases), capture_output=True, text=True, check=True
    )
    return [bool(x) for x in json.loads(out.stdout)]


def test_javascript_agrees_with_our_validator_on_every_schema_pattern() -> None:
    """The schemas stay valid ECMA-262 and editors accept exactly what mailctl accepts."""
    cases: list[tuple[str, str]] = []
    for _, pattern, examples in PATTERNS:
        for value in (e for e in examples if isinstance(e, str)):
            cases += [(pattern, value)] + [(pattern, value + t) for t in TAILS]
            cases += [(pattern, t + value) for t in TAILS]
    ours = [ecma_search(p, v) for p, v in cases]
    assert _node_results(cases) == ours
    assert any(ours) and not all(ours)


def _custom_org(**overrides: str) -> str:
    text = manifests.org("acme", "custom", user="mailer", secret_env="ACME_SMTP_PASSWORD")
    text += "  probe:\n    to: probe@acme.example\n"
    sender = "    address: alerts@acme.example\n"
    text = text.replace(sender, sender + "    displayName: Acme\n")
    for old, new in overrides.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("name: acme", 'name: "acme\\n"', "$.metadata.name"),
        ("host: 127.0.0.1", 'host: "127.0.0.1\\n"', "$.spec.smtp.host"),
        (
            "address: alerts@acme.example",
            'address: "alerts@acme.example\\n"',
            "$.spec.from.address",
        ),
        ("displayName: Acme", 'displayName: "Acme\\n"', "$.spec.from.displayName"),
        ("displayName: Acme", 'displayName: "Acme\\e[2J"', "$.spec.from.displayName"),
        ("to: probe@acme.example", 'to: "probe@acme.example\\n"', "$.spec.probe.to"),
        ("username: mailer", 'username: "mailer\\n"', "$.spec.smtp.auth.username"),
        (
            "password: {env: ACME_SMTP_PASSWORD}",
            'password: {env: "ACME_SMTP_PASSWORD\\n"}',
            "$.spec.smtp.auth.password.env",
        ),
        (
            "password: {env: ACME_SMTP_PASSWORD}",
            'password: {file: "/run/secrets/acme\\n"}',
            "$.spec.smtp.auth.password.file",
        ),
    ],
)
def test_validate_rejects_a_trailing_newline_in_every_patterned_field(
    tmp_path: Path, old: str, new: str, path: str
) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(_custom_org())
    assert validate_paths([good]).result.errors == []
    bad = tmp_path / "bad.yaml"
    bad.write_text(_custom_org(**{old: new}))
    errors = validate_paths([bad]).result.errors
    assert [(d.path, d.rule) for d in errors] == [(path, "schema.pattern")]


def test_a_name_with_a_newline_names_no_scope(tmp_path: Path) -> None:
    """``acme\\n`` must not become a second org that prints like ``org/acme``."""
    (tmp_path / "host.yaml").write_text(manifests.host())
    (tmp_path / "acme.yaml").write_text(manifests.org("acme"))
    (tmp_path / "acme2.yaml").write_text(
        manifests.org("acme").replace("name: acme", 'name: "acme\\n"')
    )
    run = validate_paths([tmp_path])
    assert sorted(c.scope or "-" for c in run.checks) == ["-", "host", "org/acme"]
    assert [m.scope for m in run.manifests if m.scope != "host"] == ["org/acme"]
    assert run.set_errors == []
