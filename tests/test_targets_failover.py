"""Targets on a shared PostgreSQL store (DESIGN §13): only the leader syncs. An ex-leader
whose target sync failed drops its retries quietly when they come due (one info event, no
second ``target.failed``, not one request to the target) and the new leader does the sync,
whether the ex-leader noticed the lost lease first or resumed from a pause with the retry
already due. Two real daemons on one real PostgreSQL database, the contract server."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.targets.runner import DEFAULT_BACKOFF
from tests import fixtures_pg
from tests.fixtures_daemon import atomic_write
from tests.fixtures_pg import PgCluster, PgDaemon, wait_for
from tests.fixtures_targets import TargetRig, host_yaml

SECRETS = ("HOST_SMTP_PASSWORD", "GLOBEX_SMTP_PASSWORD", "ORCH_CLIENT_SECRET")
LEASE_S = 6.0  # long enough that a loaded machine does not flap the lease by itself


def _bearers(rig: TargetRig) -> set[str]:
    """The bearer tokens the settings API saw (each daemon process fetches its own), so a
    request tells which daemon sent it."""
    return {
        r.headers.get("Authorization", "")
        for r in rig.server.requests
        if not r.path.endswith("/connect/token")
    }


@pytest.fixture
def cluster(
    rig: TargetRig,
    pg_url: str,
    pg_key_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[PgCluster]:
    monkeypatch.setattr(fixtures_pg, "LEASE_INTERVAL", "1s")
    monkeypatch.setattr(fixtures_pg, "LEASE_DURATION_S", LEASE_S)
    cluster = PgCluster(pg_url, rig.repo.configs, tmp_path, pg_key_file)
    cluster.env.update({k: rig.env[k] for k in SECRETS})
    try:
        yield cluster
    finally:
        cluster.stop_all()


def _a_leads_and_fails(rig: TargetRig, cluster: PgCluster) -> tuple[PgDaemon, PgDaemon, str]:
    """a leads and synced once; b stands by; the target then refuses every write and a's
    sync of a host change fails (a schedules its retry). Returns (a, b, a's bearer)."""
    a = cluster.start("a")
    assert cluster.leader() is a
    wait_for("a's first sync", lambda: len(rig.puts()) == 4, 20)
    (a_token,) = _bearers(rig)
    b = cluster.start("b")  # a standby: it never syncs
    rig.server.fail("PUT", 503, times=1_000_000)
    atomic_write(rig.repo.configs / "host.yaml", host_yaml(port=2587))
    wait_for("a's failed sync", lambda: a.events("target.failed"), 30)
    assert a.proc.pid and b.proc.pid
    os.kill(a.proc.pid, signal.SIGSTOP)  # a pauses past its lease; b takes over
    return a, b, a_token


def _story(*daemons: PgDaemon) -> str:
    """The lease and target events of each daemon, for a failure message."""
    keep = ("leader.", "target.", "store.", "reconcile.failed")
    return "\n".join(
        f"{d.name}: {e.get('event')} {e.get('reason') or e.get('error') or ''}"
        for d in daemons
        for e in d.events()
        if str(e.get("event", "")).startswith(keep)
    )


def _stepped_aside(rig: TargetRig, a: PgDaemon, b: PgDaemon, a_token: str) -> None:
    def due() -> bool:
        return bool(a.events("target.standby") or len(a.events("target.failed")) > 1)

    wait_for("a's retry", due, DEFAULT_BACKOFF[0] + 30)
    story = _story(a, b)
    assert a_token not in _bearers(rig), story  # the ex-leader sent nothing to the target
    assert len(a.events("target.failed")) == 1, story  # its outage, not the stepping aside
    standby = a.events("target.standby")
    assert len(standby) == 1 and standby[0]["level"] == "info", story
    wait_for("a knows it lost the lease", lambda: a.events("leader.lost"), 20)
    assert len(a.events("leader.acquired")) == 1 and not a.leading(), _story(a, b)


def _b_syncs(rig: TargetRig, b: PgDaemon, a_token: str) -> None:
    """The outage ends; the new leader's resync (SIGHUP) brings the target in line."""
    rig.server.faults.clear()
    assert b.proc.pid
    os.kill(b.proc.pid, signal.SIGHUP)
    wait_for("b's sync", lambda: b.events("target.synced"), 30)
    assert a_token not in _bearers(rig), _story(b)
    assert not b.events("target.standby"), _story(b)


def test_an_ex_leader_that_noticed_first_drops_its_retry(
    rig: TargetRig, cluster: PgCluster
) -> None:
    a, b, a_token = _a_leads_and_fails(rig, cluster)
    try:
        wait_for("b leads", lambda: b.leading(), LEASE_S + 20)
    finally:
        os.kill(a.proc.pid, signal.SIGCONT)
    wait_for("b's takeover sync (failing too: that is b's)", lambda: b.events("target.failed"), 30)
    rig.server.clear()
    _stepped_aside(rig, a, b, a_token)
    _b_syncs(rig, b, a_token)


def test_an_ex_leader_resuming_with_its_retry_due_asks_the_store_first(
    rig: TargetRig, cluster: PgCluster
) -> None:
    a, b, a_token = _a_leads_and_fails(rig, cluster)
    failed_at = time.monotonic()
    try:
        wait_for("b leads", lambda: b.leading(), LEASE_S + 20)
        wait_for("b's takeover sync", lambda: b.events("target.failed"), 30)
        time.sleep(max(failed_at + DEFAULT_BACKOFF[0] + 3 - time.monotonic(), 0))
        rig.server.clear()
    finally:  # a resumes with its retry overdue, still believing it leads
        os.kill(a.proc.pid, signal.SIGCONT)
    _stepped_aside(rig, a, b, a_token)
    _b_syncs(rig, b, a_token)
