"""The pre-commit hooks, run for real by pre-commit in throw-away git repositories.

``mailctl-validate`` (``.pre-commit-hooks.yaml``) is what other repositories use: pre-commit
clones this repository, builds a ``language: python`` environment with ``pip install .`` and
runs ``mailctl validate`` on the matching staged files. Our own ``.pre-commit-config.yaml``
hooks run the project's ``.venv`` tools.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_validate import ORG

REPO = Path(__file__).resolve().parent.parent
PRE_COMMIT = [sys.executable, "-m", "pre_commit"]

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is required")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env.update(
        {
            "PRE_COMMIT_HOME": str(home),
            "GIT_AUTHOR_NAME": "mailctl tests",
            "GIT_AUTHOR_EMAIL": "tests@mailctl.invalid",
            "GIT_COMMITTER_NAME": "mailctl tests",
            "GIT_COMMITTER_EMAIL": "tests@mailctl.invalid",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "NO_COLOR": "1",
        }
    )
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One PRE_COMMIT_HOME per module: the hook environment is built once and reused."""
    yield tmp_path_factory.mktemp("pre-commit-home")


COMPOSE = "services:\n  web:\n    image: nginx:1.27\n    ports: ['8080:80']\n"
K8S = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n"
    "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"
)
HOST = "apiVersion: mailctl/v1\nkind: HostMailSettings\nspec:\n  mode: default\n"


@pytest.fixture
def user_repo(tmp_path: Path, home: Path) -> Path:
    """An ordinary repository: a compose file, Kubernetes manifests, a CI workflow, notes,
    and mailctl manifests (one of them broken) in configs/."""
    env = _env(home)
    _run(["git", "init", "-q", str(tmp_path)], tmp_path, env).check_returncode()
    files = {
        "docker-compose.yml": COMPOSE,
        "k8s/web.yaml": K8S,
        ".github/workflows/ci.yml": "on: push\njobs: {}\n",
        "notes.txt": "not a manifest\n",
        "configs/host.yaml": HOST,
        "configs/orgs/good.yaml": ORG + "spec:\n  mode: default\n",
        "configs/orgs/bad.yaml": ORG.replace("acme", "beta") + "spec:\n  mode: nope\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    _run(["git", "add", "."], tmp_path, env).check_returncode()
    return tmp_path


# Two try-repo runs in all: each builds (or reuses) the hook environment with pip.
@pytest.mark.parametrize(
    ("files", "code", "expected"),
    [
        (
            [
                "docker-compose.yml",
                "k8s/web.yaml",
                "notes.txt",
                "configs/host.yaml",
                "configs/orgs/good.yaml",
            ],
            0,
            ["Passed"],
        ),
        (
            [
                "docker-compose.yml",
                "k8s/web.yaml",
                "configs/orgs/good.yaml",
                "configs/orgs/bad.yaml",
            ],
            1,
            ["Failed", 'configs/orgs/bad.yaml:6:9: error: spec.mode is "nope"', "1 error"],
        ),
    ],
    ids=["foreign-yaml-and-good-manifests", "broken-manifest"],
)
def test_try_repo_mailctl_validate(
    user_repo: Path, home: Path, files: list[str], code: int, expected: list[str]
) -> None:
    """The hook as documented (no files: filter) in an ordinary repository: other YAML is
    skipped, a broken mailctl manifest fails the run."""
    proc = _run(
        [*PRE_COMMIT, "try-repo", str(REPO), "mailctl-validate", "--verbose", "--files", *files],
        user_repo,
        _env(home),
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == code, out
    for fragment in expected:
        assert fragment in out, out
    assert "2 files skipped: not mailctl manifests." in out, out
    for quiet in ("good.yaml:", "docker-compose.yml:", "web.yaml:", "schema.kind"):
        assert quiet not in out, out
    assert "Traceback" not in out


def documented_config(doc: Path) -> dict[str, Any]:
    """The ``.pre-commit-config.yaml`` snippet a document tells users to write."""
    blocks = re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S)
    (snippet,) = [b for b in blocks if "mailctl-validate" in b and "repos:" in b]
    config: dict[str, Any] = yaml.safe_load(snippet)
    return config


@pytest.mark.parametrize("doc", ["README.md", "docs/pre-commit.md"])
def test_documented_snippet_pins_a_rev_and_needs_no_files_filter(doc: str) -> None:
    (repo,) = documented_config(REPO / doc)["repos"]
    assert re.fullmatch(r"v\d+\.\d+\.\d+", repo["rev"]), repo["rev"]
    assert repo["hooks"] == [{"id": "mailctl-validate"}]


def test_hook_blocks_a_real_commit(user_repo: Path, home: Path) -> None:
    """The README's snippet, pointed at this repository's HEAD (the only two values a user
    replaces), installed as a git hook in a repository full of other YAML: good commits
    pass, a broken manifest stops `git commit`."""
    env = _env(home)
    rev = _run(["git", "rev-parse", "HEAD"], REPO, env).stdout.strip()
    config = documented_config(REPO / "README.md")
    config["repos"][0].update(repo=str(REPO), rev=rev)
    (user_repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    _run(["git", "add", ".pre-commit-config.yaml"], user_repo, env).check_returncode()
    _run([*PRE_COMMIT, "install"], user_repo, env).check_returncode()

    _run(["git", "reset", "-q", "configs/orgs/bad.yaml"], user_repo, env).check_returncode()
    ok = _run(["git", "commit", "-qm", "good"], user_repo, env)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    _run(["git", "add", "configs/orgs/bad.yaml"], user_repo, env).check_returncode()
    blocked = _run(["git", "commit", "-qm", "bad"], user_repo, env)
    assert blocked.returncode == 1, blocked.stdout + blocked.stderr
    assert "[schema.enum]" in blocked.stdout + blocked.stderr
    log = _run(["git", "log", "--format=%s"], user_repo, env).stdout.split()
    assert log == ["good"]


def test_own_config_validates_configs_and_examples(tmp_path: Path, home: Path) -> None:
    """This repository's .pre-commit-config.yaml: the validate hooks on configs/ and examples/."""
    venv = Path(sys.executable).parent.parent
    if not (venv / "bin" / "mailctl").exists():
        pytest.skip("needs the project virtual environment with the mailctl script")
    env = _env(home)
    _run(["git", "init", "-q", str(tmp_path)], tmp_path, env).check_returncode()
    shutil.copy2(REPO / ".pre-commit-config.yaml", tmp_path)
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    (tmp_path / ".venv").symlink_to(venv, target_is_directory=True)
    _run(["git", "add", "."], tmp_path, env).check_returncode()
    hooks = ["mailctl-validate-configs", "mailctl-validate-examples"]
    for hook in hooks:
        proc = _run([*PRE_COMMIT, "run", hook, "--all-files"], tmp_path, env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Passed" in proc.stdout
    (tmp_path / "configs" / "orgs" / "acme.yaml").write_text(ORG + "spec:\n  mode: custom\n")
    proc = _run([*PRE_COMMIT, "run", hooks[0], "--all-files"], tmp_path, env)
    assert proc.returncode == 1
    assert "configs/orgs/acme.yaml:6:3: error:" in proc.stdout
