"""``reconciler.cli``: the one error boundary (every usage error is one line, exit 1, no
traceback) and ``--log-level`` / ``MAILCTL_LOG_LEVEL`` for the commands that log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import manifests


def mailctl(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MAILCTL_")}
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**base, **env},
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ("plan", "--zzz"),
            "mailctl: error: No such option '--zzz'. (see 'mailctl plan --help')",
        ),
        (
            ("diff",),
            "mailctl: error: Missing option '--base'. (see 'mailctl diff --help')",
        ),
        (
            ("apply", "--probe", "sometimes"),
            "mailctl: error: Invalid value for '--probe': 'sometimes' is not one of 'after', "
            "'gate', 'off'. (see 'mailctl apply --help')",
        ),
        (("nosuch",), "mailctl: error: No such command 'nosuch'. (see 'mailctl --help')"),
        (
            ("effective",),
            "mailctl: error: Missing argument 'SCOPE'. (see 'mailctl effective --help')",
        ),
        (
            ("daemon", "--interval", "soon"),
            "mailctl: error: Invalid value for '--interval': 'soon' is not a duration "
            "(see 'mailctl daemon --help')",
        ),
        (
            ("apply", "--log-level", "loud"),
            "mailctl: error: Invalid value for '--log-level' (env var: 'MAILCTL_LOG_LEVEL'): "
            "'loud' is not one of 'debug', "
            "'info', 'warning', 'error'. (see 'mailctl apply --help')",
        ),
    ],
)
def test_usage_errors_are_one_line(args: tuple[str, ...], line: str, tmp_path: Path) -> None:
    proc = mailctl(*args, cwd=tmp_path)
    assert proc.returncode == 1  # never 2: that means "changes" for plan/diff
    assert proc.stderr == line + "\n"
    assert proc.stdout == ""


def test_a_bad_log_level_in_the_environment_is_one_line(tmp_path: Path) -> None:
    proc = mailctl("apply", cwd=tmp_path, MAILCTL_LOG_LEVEL="verbose")
    assert proc.returncode == 1
    assert len(proc.stderr.splitlines()) == 1
    assert "Invalid value for '--log-level'" in proc.stderr


@pytest.fixture(name="configs")
def configs_fixture(tmp_path: Path) -> Path:
    """A host, a good org and a broken one (held: a warning event), probes off."""
    configs = tmp_path / "configs"
    (configs / "orgs").mkdir(parents=True)
    (configs / "host.yaml").write_text(manifests.host())
    (configs / "orgs" / "acme.yaml").write_text(manifests.org("acme"))
    (configs / "orgs" / "broken.yaml").write_text(manifests.org("broken") + "  extra: 1\n")
    return configs


def _events(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines()]


@pytest.mark.parametrize(
    ("flag", "env", "levels"),
    [
        ((), {}, {"info", "warning", "error"}),
        (("--log-level", "warning"), {}, {"warning", "error"}),
        (("--log-level", "ERROR"), {}, {"error"}),
        ((), {"MAILCTL_LOG_LEVEL": "error"}, {"error"}),
        (("--log-level", "info"), {"MAILCTL_LOG_LEVEL": "error"}, {"info", "warning", "error"}),
    ],
)
def test_log_level_filters_apply_events(
    configs: Path,
    tmp_path: Path,
    flag: tuple[str, ...],
    env: dict[str, str],
    levels: set[str],
) -> None:
    proc = mailctl(
        "apply",
        "--configs",
        str(configs),
        "--store",
        str(tmp_path / "s.db"),
        "--probe",
        "off",
        "--revision",
        "r1",
        "--log-format",
        "json",
        *flag,
        cwd=tmp_path,
        **env,
    )
    assert proc.returncode == 3, proc.stderr  # applied, one scope held
    events = _events(proc.stderr)
    seen = {e["level"] for e in events}
    assert seen == levels, events
    names = {e["event"] for e in events}
    assert ("scope.applied" in names) == ("info" in levels)
    assert ("scope.stalled" in names) == ("warning" in levels)
    assert "manifests.invalid" in names  # an error: shown at every level
