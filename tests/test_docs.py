"""``docs/`` and the READMEs: every relative link points at a file of the repository, the
index lists every page, and the README sends users to docs/, not to a file they lack."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = sorted(
    [
        REPO / "README.md",
        REPO / "examples" / "README.md",
        REPO / "deploy" / "README.md",
        *(REPO / "docs").glob("*.md"),
    ]
)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # not in code blocks
    text = re.sub(r"`[^`\n]*`", "", text)  # nor in code spans
    return [
        target
        for target in LINK.findall(text)
        if not re.match(r"[a-z][a-z0-9+.-]*:", target) and not target.startswith("#")
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in _relative_links(page):
        path = (page.parent / target.split("#", 1)[0]).resolve()
        if not path.exists():
            broken.append(target)
    assert broken == []


def test_docs_index_lists_every_page() -> None:
    index = (REPO / "docs" / "README.md").read_text()
    pages = {p.name for p in (REPO / "docs").glob("*.md")} - {"README.md"}
    assert pages
    assert sorted(p for p in pages if f"]({p})" not in index) == []


def test_readme_points_to_docs_not_to_the_contract() -> None:
    readme = (REPO / "README.md").read_text()
    assert "DESIGN.md" not in readme
    assert "](docs/README.md)" in readme
    assert "v0.1.0" not in readme  # a tag that never existed


def test_probe_page_lists_every_failure_class() -> None:
    from reconciler.probe.classes import FailureClass

    page = (REPO / "docs" / "probe.md").read_text()
    listed = set(re.findall(r"^\| `([a-z0-9_]+)` \|", page, flags=re.M))
    assert {str(c) for c in FailureClass} == listed


def test_readme_names_every_failure_class() -> None:
    from reconciler.probe.classes import FailureClass

    readme = (REPO / "README.md").read_text()
    assert [str(c) for c in FailureClass if f"`{c}`" not in readme] == []
