"""Real git repositories and SQLite stores in temporary folders."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.store import StateStore, open_store
from tests import manifests

GIT_ENV = {
    "GIT_AUTHOR_NAME": "mailctl tests",
    "GIT_AUTHOR_EMAIL": "tests@mailctl.invalid",
    "GIT_COMMITTER_NAME": "mailctl tests",
    "GIT_COMMITTER_EMAIL": "tests@mailctl.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@dataclass
class ConfigRepo:
    """A git repository whose ``configs/`` folder holds manifests."""

    root: Path

    @property
    def configs(self) -> Path:
        return self.root / "configs"

    def write(self, rel: str, text: str) -> Path:
        path = self.configs / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def remove(self, rel: str) -> None:
        (self.configs / rel).unlink()

    def git(self, *args: str) -> str:
        out = subprocess.run(
            ["git", *args], cwd=self.root, check=True, capture_output=True, text=True
        )
        return out.stdout.strip()

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def git_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def repo(tmp_path: Path, git_env: None) -> ConfigRepo:
    """A repo with a custom host and three orgs: two inheriting, one custom; committed."""
    r = ConfigRepo(tmp_path / "repo")
    r.root.mkdir()
    r.git("init", "-q", "-b", "main")
    r.write("host.yaml", manifests.host())
    r.write("orgs/acme.yaml", manifests.org("acme"))
    r.write("orgs/umbrella.yaml", manifests.org("umbrella"))
    r.write("orgs/globex.yaml", manifests.org("globex", "custom", port=2526))
    r.commit("initial")
    return r


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "mailctl.db"


@pytest.fixture
def store(store_path: Path) -> Iterator[StateStore]:
    store_path.parent.mkdir(parents=True, exist_ok=True)
    with open_store(store_path) as st:
        yield st
