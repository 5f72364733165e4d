"""``schemas/`` as editors see them: the real yaml-language-server over LSP stdio.

Every shipped manifest (``configs/``, ``examples/``, and the examples copied into a
``configs/`` folder as ``examples/README.md`` says) opens without diagnostics through its
modeline; completion works inside ``spec:`` and ``spec.smtp:``; hover describes
``timeoutMs``; an unknown key is reported. Documents under test are sent in ``didOpen``
(nothing is written into the repository); each has a URI of its own.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lsp_client import LspClient
from tests.realservers import require_program

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted(
    p.relative_to(REPO) for d in ("configs", "examples") for p in (REPO / d).rglob("*.yaml")
)
ORG_HEAD = (
    "# yaml-language-server: $schema=../../schemas/org.schema.json\n"
    "apiVersion: mailctl/v1\nkind: OrgMailSettings\nmetadata:\n  name: scratch\n"
)
_names = itertools.count()


@pytest.fixture(scope="module")
def lsp() -> Iterator[LspClient]:
    program = require_program(
        "MAILCTL_REQUIRE_LSP",
        "yaml-language-server",
        "npm install yaml-language-server (or run .ci/install-servers)",
    )
    client = LspClient(program, REPO)
    try:
        client.initialize()
        yield client
    finally:
        client.shutdown()


def _scratch(folder: str = "configs/orgs") -> Path:
    """A fresh document URI beside the shipped org manifests (the file is never written)."""
    return REPO / folder / f"lsp-scratch-{next(_names)}.yaml"


def _at(text: str, needle: str) -> tuple[int, int]:
    """(line, character) just inside the first ``needle``."""
    for number, line in enumerate(text.splitlines()):
        if needle in line:
            return number, line.index(needle) + 1
    raise AssertionError(f"{needle!r} not in the document")


@pytest.mark.parametrize("rel", SHIPPED, ids=str)
def test_shipped_manifest_has_no_diagnostics(lsp: LspClient, rel: Path) -> None:
    assert lsp.open(REPO / rel) == []


def test_examples_copied_into_configs_keep_their_schema(lsp: LspClient, tmp_path: Path) -> None:
    """The copy commands of examples/README.md: host to configs/host.yaml, orgs to
    configs/orgs/; the modelines still find the schemas (and still say which one)."""
    shutil.copytree(REPO / "schemas", tmp_path / "schemas")
    (tmp_path / "configs" / "orgs").mkdir(parents=True)
    shutil.copy(REPO / "examples" / "office365.yaml", tmp_path / "configs" / "host.yaml")
    orgs = sorted((REPO / "examples" / "orgs").glob("*.yaml"))
    assert orgs
    for org in orgs:
        shutil.copy(org, tmp_path / "configs" / "orgs" / org.name)
    for copied in sorted((tmp_path / "configs").rglob("*.yaml")):
        assert lsp.open(copied) == [], copied
    # The schema really applies to the copies: a broken copy is reported.
    broken = tmp_path / "configs" / "orgs" / "broken.yaml"
    text = (tmp_path / "configs" / "orgs" / orgs[0].name).read_text()
    messages = [d["message"] for d in lsp.open(broken, text.replace("port: 587", "port: 0"))]
    assert messages == ["Value is below the minimum of 1."], messages


@pytest.mark.parametrize(
    ("body", "needle", "expected"),
    [
        ("spec:\n  \n", None, {"mode", "smtp", "from", "probe"}),
        (
            "spec:\n  mode: custom\n  smtp:\n    ho\n",
            "ho",
            {"host", "port", "domain", "timeoutMs", "tls", "auth"},
        ),
        (
            "spec:\n  mode: custom\n  smtp:\n    host: a.example\n    port: 25\n    tls: \n",
            "tls: ",
            {"starttls", "implicit", "none"},
        ),
    ],
    ids=["spec", "spec.smtp", "spec.smtp.tls"],
)
def test_completion(lsp: LspClient, body: str, needle: str | None, expected: set[str]) -> None:
    doc = _scratch()
    text = ORG_HEAD + body
    lsp.open(doc, text)
    if needle is None:  # the blank line under spec:, indented
        line, char = len(text.splitlines()) - 1, 2
    else:
        line, char = _at(text, needle)
        char += len(needle) - 1
    labels = set(lsp.completion(doc, line, char))
    assert expected <= labels, labels


def test_hover_describes_timeout_ms(lsp: LspClient) -> None:
    host = REPO / "configs" / "host.yaml"
    text = host.read_text()
    assert "timeoutMs" in text
    doc = _scratch("configs")
    lsp.open(doc, text)
    hover = lsp.hover(doc, *_at(text, "timeoutMs"))
    assert "Timeout of each SMTP operation in milliseconds" in hover, hover


@pytest.mark.parametrize(
    ("body", "needle", "message"),
    [
        (
            "spec:\n  mode: custom\n  smtp:\n    host: a.example\n    port: 25\n"
            "    tymeoutMs: 1000\n  from:\n    address: a@b.example\n",
            "tymeoutMs",
            "Property tymeoutMs is not allowed.",
        ),
        ("spec:\n  mode: default\n  colour: blue\n", "colour", "Property colour is not allowed."),
    ],
    ids=["in-spec.smtp", "in-spec"],
)
def test_unknown_key_is_reported_where_it_is(
    lsp: LspClient, body: str, needle: str, message: str
) -> None:
    doc = _scratch()
    text = ORG_HEAD + body
    diagnostics = lsp.open(doc, text)
    line, _ = _at(text, needle)
    assert [(d["message"], d["range"]["start"]["line"]) for d in diagnostics] == [
        (message, line)
    ], diagnostics
