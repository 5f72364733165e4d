"""``mailctl`` as a real process in a real git repository, with its own store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_repo import ConfigRepo


def run_mailctl(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``mailctl ARGS`` as a real process in ``cwd`` (``env``: by default this environment
    without any ``MAILCTL_`` setting); a traceback on stderr fails the test."""
    if env is None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILCTL_")}
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@dataclass
class Mailctl:
    repo: ConfigRepo
    store: Path
    env: dict[str, str]
    outputs: list[str] = field(default_factory=list)
    timeout: float = 60

    def __call__(self, *args: str, expect: int | None = None) -> subprocess.CompletedProcess[str]:
        proc = run_mailctl(*args, cwd=self.repo.root, env=self.env, timeout=self.timeout)
        self.outputs += [proc.stdout, proc.stderr]
        if expect is not None:
            assert proc.returncode == expect, (args, proc.returncode, proc.stdout, proc.stderr)
        return proc

    def json(self, *args: str, expect: int | None = None) -> dict[str, Any]:
        out = self(*args, "--format", "json", expect=expect).stdout
        payload: dict[str, Any] = json.loads(out)
        return payload


@pytest.fixture
def mailctl(repo: ConfigRepo, tmp_path: Path) -> Mailctl:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILCTL_", "NO_COLOR"))}
    env.update(
        MAILCTL_STORE=str(tmp_path / "state" / "mailctl.db"),
        MAILCTL_CONFIGS="configs",
        MAILCTL_ACTOR="tester",
    )
    (tmp_path / "state").mkdir(exist_ok=True)
    return Mailctl(repo, tmp_path / "state" / "mailctl.db", env)
