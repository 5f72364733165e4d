"""The daemon and its store, as real processes: a store deleted or replaced under a running
daemon is detected (``store.lost``, ``/healthz`` 503, exit non-zero), and one daemon per
store (a second one refuses and names the first; a SIGKILLed one leaves no stale lock)."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from reconciler.store import open_store
from tests.fixtures_daemon import (
    DaemonProc,
    SinkProc,
    StartDaemon,
    atomic_write,
    custom_org,
    wait_for,
    write_configs,
)


def _lose_store(store: Path, how: str) -> None:
    if how == "store deleted":
        store.unlink()
    elif how == "store replaced":
        other = store.with_name("restored.db")
        open_store(other).close()
        os.replace(other, store)
    else:  # the lock file: a second daemon could lock a new one
        store.with_name(store.name + ".lock").unlink()


@pytest.mark.parametrize("how", ["store deleted", "store replaced", "lock file deleted"])
def test_a_lost_store_stops_the_daemon(default_daemon: DaemonProc, how: str) -> None:
    d = default_daemon
    assert d.get("/healthz")[0] == 200
    t0 = time.monotonic()
    _lose_store(d.store, how)
    seen_503 = False
    while d.proc.poll() is None and time.monotonic() - t0 < 12:
        code, body = d.get("/healthz")
        if code == 503:
            seen_503 = True
            assert b"store lost" in body
        time.sleep(0.05)
    took = time.monotonic() - t0
    assert d.proc.poll() is not None, "the daemon kept running on a lost store"
    assert d.proc.returncode not in (0, None)
    assert took < 10, took
    assert seen_503, "/healthz never answered 503 before the daemon exited"
    lost = d.events("store.lost")
    assert len(lost) == 1 and str(d.store.name) in lost[0]["error"]
    if how == "store deleted":
        assert not d.store.exists()  # nothing re-created it, nothing written to it


def test_a_write_after_the_loss_is_refused_not_written_to_the_deleted_file(
    tmp_path: Path, sink: SinkProc, start_daemon: StartDaemon
) -> None:
    """The edit and the loss race; whatever the daemon does, it never reports it applied."""
    d = start_daemon(write_configs(tmp_path, sink.port), debounce_ms=0)
    before = len(d.events("scope.applied"))
    d.store.unlink()
    atomic_write(d.configs / "orgs" / "globex.yaml", custom_org("globex", sink.port, "Late"))
    code = d.proc.wait(timeout=12)
    assert code != 0
    assert d.events("scope.applied")[before:] == []
    for failed in d.events("reconcile.failed"):  # if the edit ran first, it was refused
        assert "was deleted while mailctl had it open" in failed["error"]


def test_one_daemon_per_store_and_no_stale_lock_after_sigkill(
    tmp_path: Path, sink: SinkProc, start_daemon: StartDaemon
) -> None:
    configs = write_configs(tmp_path, sink.port)
    first = start_daemon(configs)
    second = start_daemon(configs, name="second", wait_ready=False)
    assert second.proc.wait(timeout=15) == 1
    err = second.err.read_text()
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[0] == (
        f"mailctl: error: store: store {first.store} is in use by another mailctl daemon"
        f" (pid {first.proc.pid} on host {socket.gethostname()}, since "
        + lines[0].rsplit("since ", 1)[1]
    ), err
    assert lines[1].startswith("  hint: stop that daemon first")
    assert "Traceback" not in err
    assert first.get("/healthz")[0] == 200  # the first one is untouched

    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    third = start_daemon(configs, name="third")  # the kernel dropped the lock with it
    atomic_write(configs / "orgs" / "globex.yaml", custom_org("globex", sink.port, "Third"))
    wait_for("globex applied", lambda: third.display_name("org/globex") == "Third", timeout=5)
    assert third.stop()[0] == 0
