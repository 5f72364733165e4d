"""Crash safety and concurrency of apply, with real processes on a real SQLite file."""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.gen import generate, secret_environ
from reconciler.reconcile import apply_run
from reconciler.resolve import BUILTIN_PLATFORM
from reconciler.store import open_store
from reconciler.validate import validate_paths

ORGS = 3000
KILLS = 20


def _apply_cmd(configs: Path, store: Path, revision: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "reconciler",
        "apply",
        "--configs",
        str(configs),
        "--store",
        str(store),
        "--probe",
        "off",
        "--revision",
        revision,
    ]


def _env() -> dict[str, str]:
    return {**os.environ, **secret_environ(ORGS, seed=7)}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A store holding revision r1 of ORGS orgs, and the configs changed to r2 (host port)."""
    root = tmp_path_factory.mktemp("crash")
    configs = generate(root / "configs", ORGS, 0.2, seed=7)
    db = root / "baseline.db"
    for name, value in secret_environ(ORGS, seed=7).items():
        os.environ.setdefault(name, value)
    with open_store(db) as store:
        result = apply_run(
            store, validate_paths([configs]), platform=BUILTIN_PLATFORM, revision="r1", policy="off"
        )
        assert len(result.written) == ORGS + 1
    host = configs / "host.yaml"
    host.write_text(host.read_text().replace("port: 2525", "port: 2600"))
    return configs, db


def _copy_store(db: Path, to: Path) -> None:
    """A store is its database and its fingerprint key file."""
    shutil.copy(db, to)
    shutil.copy(f"{db}.key", f"{to}.key")


def _state(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()
    with open_store(db, create=False) as store:
        scopes = store.scopes()
        host_port = scopes["host"].effective["smtp.port"]
        inheriting = [r for r in scopes.values() if r.mode == "default" and r.scope != "host"]
        ports = {r.effective["smtp.port"] for r in inheriting}
        revisions = {r.last_applied_revision for r in inheriting} | {
            scopes["host"].last_applied_revision
        }
        history = store.history(None, None)
        assert len(scopes) == ORGS + 1
    if host_port == 2525:
        assert ports == {2525} and revisions == {"r1"} and len(history) == 1
        return "old"
    assert host_port == 2600 and ports == {2600} and revisions == {"r2"} and len(history) == 2
    return "new"


def test_sigkill_during_apply_leaves_old_or_new_revision(
    baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    configs, db = baseline
    work = tmp_path / "work.db"
    # How long does an uninterrupted apply take in a fresh process?
    _copy_store(db, work)
    started = time.monotonic()
    subprocess.run(_apply_cmd(configs, work, "r2"), env=_env(), check=True, capture_output=True)
    full = time.monotonic() - started
    assert _state(work) == "new"
    rng = random.Random(1234)
    outcomes: list[str] = []
    killed = 0
    for _ in range(KILLS):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{work}{suffix}").unlink(missing_ok=True)
        _copy_store(db, work)
        proc = subprocess.Popen(
            _apply_cmd(configs, work, "r2"),
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.2 * full, 0.95 * full))
        proc.send_signal(signal.SIGKILL)
        if proc.wait() == -signal.SIGKILL:
            killed += 1
        outcomes.append(_state(work))
    assert killed >= KILLS * 3 // 4, f"only {killed} kills hit a running apply"
    assert set(outcomes) <= {"old", "new"}
    print(f"kills={killed} outcomes old={outcomes.count('old')} new={outcomes.count('new')}")


def test_two_applies_started_together_serialize(
    baseline: tuple[Path, Path], tmp_path: Path
) -> None:
    configs, db = baseline
    work = tmp_path / "work.db"
    _copy_store(db, work)
    procs = [
        subprocess.Popen(
            _apply_cmd(configs, work, rev),
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rev in ("r2", "r2-again")
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    # Exactly one of them applied the change; the other planned against its commit.
    applied = [out for out, _ in results if "Apply complete!" in out]
    assert len(applied) == 1
    assert sum("No changes." in out for out, _ in results) == 1
    with open_store(work, create=False) as store:
        assert len(store.scopes()) == ORGS + 1
        assert len(store.history(None, None)) == 2
        assert store.scopes()["host"].effective["smtp.port"] == 2600
