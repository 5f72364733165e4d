"""The store-facing command paths as real processes: a missing store is never created by a
command that only changes or reads it, ``--lock-timeout`` is validated, and a busy store
says it is busy and who may hold it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.store import open_store
from reconciler.store.lock import DaemonLock
from tests.fixtures_cli import run_mailctl

REPO = Path(__file__).resolve().parents[1]


def mailctl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILCTL_")}
    return run_mailctl(*args, cwd=cwd, env={**env, "PYTHONPATH": str(REPO)})


@pytest.mark.parametrize(
    "args",
    [
        ["suspend", "--reason", "maintenance"],
        ["resume"],
        ["rollback", "--to", "1"],
        ["status"],
        ["history"],
        ["probe"],
        ["effective", "host"],
    ],
    ids=lambda a: a[0],
)
def test_a_missing_store_is_named_and_not_created(tmp_path: Path, args: list[str]) -> None:
    typo = tmp_path / "typo.db"
    proc = mailctl(*args, "--store", str(typo), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    first, *rest = proc.stderr.splitlines()
    assert first.startswith(f"mailctl: error: store: store {typo} does not exist"), first
    assert rest and rest[0].startswith("  hint: ")
    assert "Suspended" not in proc.stdout and "Resumed" not in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["apply"], ["suspend", "--reason", "x"], ["resume"]])
@pytest.mark.parametrize("value", ["nan", "inf", "-1", "1e9", "soon"])
def test_lock_timeout_is_a_usage_error(tmp_path: Path, command: list[str], value: str) -> None:
    proc = mailctl(*command, "--lock-timeout", value, "--store", "s.db", cwd=tmp_path)
    assert proc.returncode == 1
    assert "Invalid value for '--lock-timeout'" in proc.stderr
    assert "store" not in proc.stderr.split("--lock-timeout", 1)[1].split(":", 1)[0]
    assert not (tmp_path / "s.db").exists()


def test_suspend_and_resume_an_existing_store(tmp_path: Path) -> None:
    db = tmp_path / "mailctl.db"
    open_store(db).close()
    assert mailctl("suspend", "--reason", "upgrade", "--store", str(db), cwd=tmp_path).stdout == (
        "Suspended: upgrade\n"
    )
    with open_store(db, create=False) as st:
        assert st.suspension().reason == "upgrade"
    assert mailctl("resume", "--store", str(db), cwd=tmp_path).stdout == "Resumed.\n"


HOLD = """
import sys, time
from reconciler.store import StateStore, open_store
with open_store(sys.argv[1]) as st, st.transaction():
    print("holding", flush=True)
    time.sleep(60)
"""


def test_a_busy_store_says_busy_names_the_daemon_and_never_suggests_deleting(
    tmp_path: Path,
) -> None:
    db = tmp_path / "mailctl.db"
    open_store(db).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        with DaemonLock.acquire(db):  # as a running daemon would hold it
            proc = mailctl(
                "suspend",
                "--reason",
                "x",
                "--lock-timeout",
                "0.5",
                "--store",
                str(db),
                cwd=tmp_path,
            )
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    assert proc.returncode == 1
    err = proc.stderr.lower()
    assert f"store {db} is busy" in err
    assert f"pid {os.getpid()} on host" in err
    assert "--lock-timeout" in err
    for word in ("delete", "remove", "move it away", "new store", "corrupt"):
        assert word not in err
