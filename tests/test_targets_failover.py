"""Targets on a shared PostgreSQL store (DESIGN §13): only the leader syncs. An ex-leader
whose target sync failed drops its retries quietly when they come due (one info event, no
second ``target.failed``, not one request to the target) and the new leader does the sync.
Two real daemons on one real PostgreSQL database, the Orchestrator contract server."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from reconciler.targets.runner import DEFAULT_BACKOFF
from tests import fixtures_pg
from tests.fixtures_daemon import atomic_write
from tests.fixtures_pg import PgCluster, wait_for
from tests.fixtures_targets import TargetRig, host_yaml

SECRETS = ("HOST_SMTP_PASSWORD", "GLOBEX_SMTP_PASSWORD", "ORCH_CLIENT_SECRET")


def _bearers(rig: TargetRig) -> set[str]:
    """The bearer tokens seen by the settings API (one per daemon process: each fetches its
    own), so a request tells which daemon sent it."""
    return {
        r.headers.get("Authorization", "")
        for r in rig.server.requests
        if not r.path.endswith("/connect/token")
    }


def test_an_ex_leader_steps_aside_and_the_new_leader_syncs(
    rig: TargetRig,
    pg_url: str,
    pg_key_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Leases long enough that a loaded machine does not flap them by itself.
    monkeypatch.setattr(fixtures_pg, "LEASE_INTERVAL", "1s")
    monkeypatch.setattr(fixtures_pg, "LEASE_DURATION_S", 6.0)
    cluster = PgCluster(pg_url, rig.repo.configs, tmp_path, pg_key_file)
    cluster.env.update({k: rig.env[k] for k in SECRETS})
    try:
        a = cluster.start("a")
        assert cluster.leader() is a
        wait_for("a's first sync", lambda: len(rig.puts()) == 4, 20)
        (a_token,) = _bearers(rig)
        b = cluster.start("b")  # a standby: it never syncs
        # The target fails from now on: a's sync fails and a schedules a retry.
        rig.server.fail("PUT", 503, times=1_000_000)
        atomic_write(rig.repo.configs / "host.yaml", host_yaml(port=2587))
        wait_for("a's failed sync", lambda: a.events("target.failed"), 30)
        # a pauses past its lease; b takes over (and syncs, failing too: that is b's).
        assert a.proc.pid
        os.kill(a.proc.pid, signal.SIGSTOP)
        try:
            wait_for("b leads", lambda: b.leading(), 6.0 + 20)
        finally:
            os.kill(a.proc.pid, signal.SIGCONT)
        wait_for("a knows it lost the lease", lambda: a.events("leader.lost"), 20)
        wait_for("b's takeover sync (failing)", lambda: b.events("target.failed"), 30)
        rig.server.clear()

        # a's retry comes due DEFAULT_BACKOFF[0] after its failure.
        def due() -> bool:
            return bool(a.events("target.standby") or len(a.events("target.failed")) > 1)

        wait_for("a's retry to come due", due, DEFAULT_BACKOFF[0] + 30)
        assert a_token not in _bearers(rig)  # the ex-leader sent nothing to the target
        assert len(a.events("target.failed")) == 1  # its outage, not the stepping aside
        standby = a.events("target.standby")
        assert len(standby) == 1 and standby[0]["level"] == "info", standby
        assert len(a.events("leader.acquired")) == 1 and not a.leading()
        # The outage ends: the new leader's sync goes through (a resync, SIGHUP).
        rig.server.faults.clear()
        assert b.proc.pid
        os.kill(b.proc.pid, signal.SIGHUP)
        wait_for("b's sync", lambda: b.events("target.synced"), 30)
        assert a_token not in _bearers(rig)
        assert not b.events("target.standby") and a.alive()
    finally:
        cluster.stop_all()
