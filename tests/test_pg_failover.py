"""Failover of real daemons sharing one real PostgreSQL store (DESIGN §13).

Three ``mailctl daemon`` processes on one database with short lease settings (renew every
0.3 s, expire after 2 s): one leads, the others serve reads; killing, disconnecting or
pausing the leader hands the next edit to a standby within the lease duration + 5 s, and a
paused ex-leader's write is refused by the fencing check (nothing applied twice, history
exact).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests import manifests
from tests.fixtures_pg import (
    LEASE_DURATION_S,
    PgCluster,
    PgDaemon,
    commit_then_write,
    wait_for,
    write_lock_holder,
)
from tests.fixtures_repo import ConfigRepo

BOUND_S = LEASE_DURATION_S + 5.0  # the bound: lease duration + 5 s


def globex(n: int) -> str:
    return manifests.org("globex", "custom", port=2526, display_name=f"Globex {n}")


def history_revisions(cluster: PgCluster) -> list[str]:
    with cluster.store() as st:
        return [e.revision for e in st.history(limit=None)]


def three(cluster: PgCluster, repo: ConfigRepo) -> tuple[PgDaemon, list[PgDaemon]]:
    for name in ("a", "b", "c"):
        cluster.start(name)
    leader = cluster.leader()
    cluster.wait_revision(repo.git("rev-parse", "HEAD"), timeout=60)
    return leader, [d for d in cluster.daemons if d is not leader]


def sessions_of(cluster: PgCluster, holder: str) -> list[int]:
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = %s",
            ("mailctl " + holder,),
        ).fetchall()
    return [int(r[0]) for r in rows]


def test_standbys_serve_reads_and_one_leads(pg_cluster: PgCluster, repo: ConfigRepo) -> None:
    leader, standbys = three(pg_cluster, repo)
    assert [d.leading() for d in standbys] == [False, False]
    assert len(leader.events("leader.acquired")) == 1
    for d in standbys:
        assert d.get("/healthz")[0] == 200
        status, body = d.get("/readyz")
        assert (status, body) == (200, b"ready: standby, serving from the store\n")
        status, body = d.get("/status")
        payload = json.loads(body)
        assert status == 200 and payload["leader"]["leading"] is False
        assert {s["scope"] for s in payload["scopes"]} == {
            "host",
            "org/acme",
            "org/globex",
            "org/umbrella",
        }
        status, body = wait_for(  # the read API (its index is built from the store)
            "the standby's read API",
            lambda d=d: (r := d.get("/v1/scopes/org%2Fglobex"))[0] == 200 and r,
            20,
        )
        assert json.loads(body)["scope"] == "org/globex"
        status, body = d.get("/v1/scopes")
        assert status == 200 and len(json.loads(body)["items"]) == 4, body[:300]
        assert not d.events("reconcile.started")  # a standby never reconciles
    assert json.loads(leader.get("/status")[1])["leader"]["leading"] is True
    # An idle standby sleeps between ticks (it busy-looped at ~60 % of a core, polling
    # the store, while its start-up run reason stayed pending).
    before = {d.name: cpu_seconds(d) for d in standbys}
    time.sleep(3.0)
    used = {d.name: round(cpu_seconds(d) - before[d.name], 2) for d in standbys}
    assert all(v < 0.6 for v in used.values()), used


def cpu_seconds(d: PgDaemon) -> float:
    """User + system CPU of the daemon process so far (/proc)."""
    fields = Path(f"/proc/{d.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_sigkill_of_the_leader_a_standby_applies_the_next_edit(
    pg_cluster: PgCluster, repo: ConfigRepo
) -> None:
    leader, _ = three(pg_cluster, repo)
    first = repo.git("rev-parse", "HEAD")
    leader.proc.send_signal(signal.SIGKILL)
    leader.proc.wait()
    rev = commit_then_write(repo, "orgs/globex.yaml", globex(2))
    took = pg_cluster.wait_revision(rev, timeout=BOUND_S + 10)
    assert took < BOUND_S, f"the edit took {took:.1f}s after the leader was killed"
    print(f"\nSIGKILL: the next edit applied by a standby {took:.2f} s after the kill")
    new = pg_cluster.leader(but=leader)
    assert new.events("leader.acquired")
    with pg_cluster.store() as st:
        assert st.get("org/globex").effective["from.displayName"] == "Globex 2"  # type: ignore[union-attr]
    assert history_revisions(pg_cluster) == [rev, first]  # each revision applied once


def test_a_warm_standby_takes_over_with_everything_that_changed_while_it_waited(
    pg_cluster: PgCluster, repo: ConfigRepo
) -> None:
    """A standby parses every manifest once and then what changes (``standby.warmed``); at
    takeover it re-reads only changed files. Edits made under the old leader, and an edit,
    a removal and a new org made while nobody leads, must all be in the takeover's apply."""
    leader, standbys = three(pg_cluster, repo)
    for d in standbys:
        warmed = wait_for("standby.warmed", lambda d=d: d.events("standby.warmed"), 20)
        assert warmed[0]["files"] == 4  # host + three orgs
    rev = commit_then_write(repo, "orgs/globex.yaml", globex(7))  # under the old leader
    pg_cluster.wait_revision(rev, timeout=30)
    leader.proc.send_signal(signal.SIGKILL)
    leader.proc.wait()
    repo.remove("orgs/umbrella.yaml")
    repo.write("orgs/initech.yaml", manifests.org("initech", "custom", display_name="Initech"))
    repo.write("orgs/acme.yaml", manifests.org("acme", "custom", display_name="Acme 2"))
    rev = repo.commit("while nobody leads")
    pg_cluster.wait_revision(rev, timeout=BOUND_S + 10)
    new = pg_cluster.leader(but=leader)
    assert new.events("standby.warmed")  # it took over warm: re-read the changes only
    start = new.events("reconcile.warm_start")
    # what the standby had not parsed yet when it took over (0 when its watcher kept up)
    assert start and start[0]["changed"] <= 2 and start[0]["removed"] <= 1, start
    with pg_cluster.store() as st:
        shown = {s: r.effective["from.displayName"] for s, r in st.scopes().items()}
    assert "org/umbrella" not in shown  # pruned
    assert shown["org/initech"] == "Initech" and shown["org/acme"] == "Acme 2"
    assert shown["org/globex"] == "Globex 7"


def test_terminated_leader_session_a_standby_applies_the_next_edit(
    pg_cluster: PgCluster, repo: ConfigRepo
) -> None:
    leader, _ = three(pg_cluster, repo)
    first = repo.git("rev-parse", "HEAD")
    holder = leader.holder()
    with psycopg.connect(pg_cluster.url, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s",
            ("mailctl " + holder,),
        ).fetchone()
    assert ended is not None and ended[0] >= 1
    rev = commit_then_write(repo, "orgs/globex.yaml", globex(3))
    took = pg_cluster.wait_revision(rev, timeout=BOUND_S + 10)
    assert took < BOUND_S, f"the edit took {took:.1f}s after the leader's session ended"
    print(f"\npg_terminate_backend: the next edit applied {took:.2f} s after")
    new = pg_cluster.leader(but=leader)
    assert new is not leader and new.events("leader.acquired")
    lost = wait_for("leader.lost", lambda: leader.events("leader.lost"), 5)
    assert "ended this leader's session" in lost[0]["reason"]
    assert leader.alive() and leader.leading() is False  # it stays, as a standby
    # ... keeping the manifests it parsed as leader: it re-reads at most the one edit
    # (a daemon may also have warmed once as a standby before it first led)
    warmed = wait_for(
        "standby.warmed as an ex-leader",
        lambda: [e for e in leader.events("standby.warmed") if e["ex_leader"]],
        10,
    )
    assert warmed[0]["parsed"] <= 1 and warmed[0]["files"] == 4, warmed[0]
    assert leader.get("/healthz")[0] == 200 and leader.get("/readyz")[0] == 200
    assert history_revisions(pg_cluster) == [rev, first]


@pytest.mark.slow
def test_sigstop_mid_transaction_the_old_leaders_write_is_fenced(
    pg_cluster: PgCluster, repo: ConfigRepo
) -> None:
    """The leader is paused inside its write transaction past its lease; a standby takes
    over; on SIGCONT the old leader's commit is refused by the fencing check. Each
    revision in history once, the paused one never."""
    for i in range(3000):  # enough orgs that a host change is a long transaction
        repo.write(f"orgs/bulk-{i:04d}.yaml", manifests.org(f"bulk-{i:04d}"))
    first = repo.commit("bulk")
    leader, _ = three(pg_cluster, repo)
    assert pg_cluster.revision() == first
    holder = leader.holder()
    paused = commit_then_write(repo, "host.yaml", manifests.host(display_name="Paused"))
    seen: set[str | None] = set()

    def inside() -> bool:
        now = write_lock_holder(pg_cluster)
        seen.add(now)
        return now == "mailctl " + holder

    try:
        wait_for("the leader inside its write transaction", inside, 90, interval=0.01)
    except AssertionError as exc:  # say what held the lock meanwhile
        raise AssertionError(f"{exc}; write lock holders seen: {seen}, leader {holder}") from None
    os.kill(leader.proc.pid, signal.SIGSTOP)
    try:
        assert write_lock_holder(pg_cluster) == "mailctl " + holder  # stopped mid-transaction
        final = commit_then_write(repo, "orgs/globex.yaml", globex(4))
        new = pg_cluster.leader(but=leader, timeout=LEASE_DURATION_S + 5)
        assert pg_cluster.revision() == first  # nobody could write yet: the paused lock
    finally:
        os.kill(leader.proc.pid, signal.SIGCONT)
    pg_cluster.wait_revision(final, timeout=60)
    failed = wait_for("the refused write", lambda: leader.events("reconcile.failed"), 10)
    # refused on the server, at commit: its token is no longer the store's
    assert "fencing token" in failed[0]["error"] and "held by" in failed[0]["error"], failed[0]
    assert wait_for("leader.lost", lambda: leader.events("leader.lost"), 5)
    assert new.events("leader.acquired") and leader.leading() is False
    revisions = history_revisions(pg_cluster)
    assert revisions == [final, first] and paused not in revisions
    with pg_cluster.store() as st:  # the new leader applied the whole final tree
        scopes = st.scopes()
    names = {r.effective["from.displayName"] for s, r in scopes.items() if s != "org/globex"}
    assert names == {"Paused"} and len(scopes) == 3004
    assert scopes["org/globex"].effective["from.displayName"] == "Globex 4"


def test_apply_from_the_cli_takes_the_same_lease(pg_cluster: PgCluster, repo: ConfigRepo) -> None:
    leader = pg_cluster.start("a")
    pg_cluster.leader()
    args = [sys.executable, "-m", "reconciler", "apply", "--configs", str(repo.configs)]
    args += ["--store", pg_cluster.url, "--probe", "off", "--lock-timeout", "1"]
    out = subprocess.run(args, capture_output=True, text=True, env=pg_cluster.env, check=False)
    assert out.returncode == 1, out
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert "the leader lease is held by mailctl daemon (pid" in lines[0], out.stderr
    assert f"pid {leader.proc.pid} " in lines[0] and "Traceback" not in out.stderr
    leader.proc.terminate()  # a graceful stop releases the lease at once
    assert leader.proc.wait(timeout=15) == 0
    t0 = time.monotonic()
    out = subprocess.run(args, capture_output=True, text=True, env=pg_cluster.env, check=False)
    assert out.returncode == 0, out.stderr
    assert time.monotonic() - t0 < LEASE_DURATION_S + 5
