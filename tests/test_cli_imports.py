"""The one-file ``validate`` (the pre-commit hook) loads only what it uses: a real
``python -m reconciler``-equivalent process reports its ``sys.modules`` after the command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOT_ON_THE_VALIDATE_PATH = (
    "aiosmtpd",
    "aiosmtplib",
    "asyncio",
    "mailbox",
    "sqlite3",
    "structlog",
    "watchfiles",
    "prometheus_client",
    "reconciler.store",
    "reconciler.probe",
    "reconciler.daemon",
    "reconciler.devtools.sink",
)

_REPORT = """
import json, sys
from reconciler.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _loaded(*argv: str) -> tuple[int, set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", _REPORT, *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(proc.stdout.splitlines()[-1])
    return int(report["code"]), set(report["modules"])


def _heavy(modules: set[str]) -> list[str]:
    return sorted(
        m for m in modules for h in NOT_ON_THE_VALIDATE_PATH if m == h or m.startswith(h + ".")
    )


@pytest.mark.parametrize(
    "argv",
    [
        ("validate", "configs/orgs/acme.yaml"),
        ("validate", "--format", "json", "configs/host.yaml", "configs/orgs/acme.yaml"),
        ("--help",),
    ],
)
def test_validate_and_help_load_no_store_probe_or_event_loop(argv: tuple[str, ...]) -> None:
    code, modules = _loaded(*argv)
    assert code == 0
    assert "reconciler.cli.app" in modules  # the real entry point ran
    assert _heavy(modules) == []


def test_a_command_that_needs_the_store_loads_it_when_it_runs(tmp_path: Path) -> None:
    """The check above is not vacuous: ``status`` does import sqlite3 (lazily, when run)."""
    code, modules = _loaded("status", "--store", str(tmp_path / "missing.db"))
    assert code != 0  # no store there: an error, but only after importing the store
    assert "sqlite3" in modules
