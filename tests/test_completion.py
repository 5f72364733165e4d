"""``reconciler.cli.completion``: scope names complete in the shell, from the configs folder and
the store, through click's real completion protocol (``_MAILCTL_COMPLETE``), cheaply and
without ever failing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import manifests

HOST = manifests.host(tls="none", port=2525)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILCTL_", "_MAILCTL"))}
    env.update(extra)
    return env


def _mailctl(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        env=env or _env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def complete(cwd: Path, words: str, env: dict[str, str] | None = None) -> list[str]:
    """What bash would offer for the last word of ``words`` (click's bash_complete)."""
    parts = words.split(" ")
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler"],
        cwd=cwd,
        env={
            **(env or _env()),
            "_MAILCTL_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(parts) - 1),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == "", proc.stderr
    return [line.split(",", 1)[1] for line in proc.stdout.splitlines() if line.startswith("plain,")]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """configs/ with a host, two orgs, a broken file and a stray YAML file; a store that
    also holds org/retired (applied earlier, its manifest since removed). Read-only."""
    tmp_path = tmp_path_factory.mktemp("completion")
    configs = tmp_path / "configs"
    (configs / "orgs").mkdir(parents=True)
    (configs / "host.yaml").write_text(HOST)
    for name in ("beta", "alpha", "retired"):
        (configs / "orgs" / f"{name}.yaml").write_text(manifests.org(name))
    _mailctl(tmp_path, "apply", "--probe", "off", "--revision", "r1")
    (configs / "orgs" / "retired.yaml").unlink()
    (configs / "orgs" / "broken.yaml").write_text("kind: [unclosed\n")
    (configs / "orgs" / "draft.yaml").write_text(manifests.org("draft").replace("default", "x"))
    (configs / "stray.yaml").write_text("services: {}\n")
    return tmp_path


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        # effective: configs (draft is invalid but names its scope) and the store
        (
            "mailctl effective ",
            ["host", "org/alpha", "org/beta", "org/draft", "org/retired"],
        ),
        ("mailctl effective org/", ["org/alpha", "org/beta", "org/draft", "org/retired"]),
        ("mailctl effective org/b", ["org/beta"]),
        ("mailctl effective h", ["host"]),
        ("mailctl effective zzz", []),
        # probe and history work on stored scopes only
        ("mailctl probe ", ["host", "org/alpha", "org/beta", "org/retired"]),
        ("mailctl probe host org/a", ["org/alpha"]),
        ("mailctl history org/r", ["org/retired"]),
    ],
)
def test_scope_names_complete(workdir: Path, words: str, expected: list[str]) -> None:
    assert complete(workdir, words) == expected


def test_options_given_before_the_scope_choose_the_sources(workdir: Path) -> None:
    other = workdir / "other"
    (other / "orgs").mkdir(parents=True, exist_ok=True)
    (other / "orgs" / "zeta.yaml").write_text(manifests.org("zeta"))
    words = f"mailctl effective --configs {other} "
    assert complete(workdir, words, _env(MAILCTL_STORE=str(workdir / "none.db"))) == ["org/zeta"]
    env = _env(MAILCTL_CONFIGS=str(other), MAILCTL_STORE=str(workdir / "mailctl.db"))
    assert complete(workdir, "mailctl probe org/", env) == [
        "org/alpha",
        "org/beta",
        "org/retired",
    ]


@pytest.mark.parametrize(
    "store_kind", ["missing", "directory", "garbage", "empty-sqlite", "postgres-url"]
)
def test_completion_never_fails_and_never_creates_a_store(tmp_path: Path, store_kind: str) -> None:
    store = tmp_path / "store.db"
    if store_kind == "directory":
        store.mkdir()
    elif store_kind == "garbage":
        store.write_bytes(b"\x00not sqlite at all" * 100)
    elif store_kind == "empty-sqlite":
        store.write_bytes(b"")
    env = _env(
        MAILCTL_STORE="postgresql://nobody@127.0.0.1:1/none"
        if store_kind == "postgres-url"
        else str(store),
        MAILCTL_CONFIGS=str(tmp_path / "no-such-folder"),
    )
    for words in ("mailctl effective ", "mailctl probe ", "mailctl history o"):
        assert complete(tmp_path, words, env) == []
    assert store.exists() == (store_kind not in ("missing", "postgres-url"))
    if store_kind == "empty-sqlite":
        assert store.read_bytes() == b""


def test_command_and_option_names_complete(tmp_path: Path) -> None:
    assert "effective" in complete(tmp_path, "mailctl eff")
    assert complete(tmp_path, "mailctl validate --skip") == ["--skip-foreign"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_documented_source_scripts_exist(tmp_path: Path, shell: str) -> None:
    script = _mailctl(
        tmp_path, env=_env(_MAILCTL_COMPLETE=f"{shell}_source")
    )  # what docs/completion.md tells users to eval
    assert "_MAILCTL_COMPLETE" in script


REPO = Path(__file__).resolve().parent.parent
QUICK_CASES = {
    "flow-metadata": "apiVersion: mailctl/v1\nkind: OrgMailSettings\nmetadata: {name: flow}\n"
    "spec: {mode: default}\n",
    "quoted-and-commented": "kind: 'OrgMailSettings'  # org\nmetadata:  # who\n"
    '  # the name\n  name: "quoted"  # here\nspec:\n  mode: default\n',
    "nested-name-first": "kind: OrgMailSettings\nmetadata:\n  targetIds:\n    name: x\n"
    "  name: outer\nspec:\n  mode: default\n",
    "crlf": "kind: OrgMailSettings\r\nmetadata:\r\n  name: crlf\r\nspec:\r\n  mode: default\r\n",
    "bad-name": "kind: OrgMailSettings\nmetadata:\n  name: Bad_Name\nspec:\n  mode: default\n",
    "two-kinds": "kind: OrgMailSettings\nkind: HostMailSettings\nmetadata:\n  name: a\n",
    "host": "apiVersion: mailctl/v1\nkind: HostMailSettings\nspec:\n  mode: default\n",
}


@pytest.mark.parametrize(
    "text",
    [
        *QUICK_CASES.values(),
        *(p.read_text() for d in ("configs", "examples") for p in (REPO / d).rglob("*.yaml")),
    ],
    ids=[
        *QUICK_CASES,
        *(
            str(p.relative_to(REPO))
            for d in ("configs", "examples")
            for p in (REPO / d).rglob("*.yaml")
        ),
    ],
)
def test_quick_scan_agrees_with_the_reader(tmp_path: Path, text: str) -> None:
    """The fast path names the same scope as the safe reader, or defers to it (None)."""
    from reconciler.cli.completion import _quick_scope, _read_scope, configs_scopes

    path = tmp_path / "m.yaml"
    path.write_bytes(text.encode())
    exact = _read_scope(path, str(path))
    quick = _quick_scope(path.read_bytes())
    assert quick in (None, exact)
    assert configs_scopes(tmp_path) == ({exact} if exact else set())
