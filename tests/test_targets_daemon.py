"""The daemon syncs targets on its own runner: after the start-up reconcile, after an edit
(only what changed), and at resync (drift); /status, /metrics and the events show it.
A real ``mailctl daemon`` process against the contract server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures_daemon import LOOPBACK, DaemonProc, atomic_write, free_port, wait_for
from tests.fixtures_targets import PARTS, TargetRig, host_yaml


@pytest.fixture
def daemon(rig: TargetRig, tmp_path: Path) -> Iterator[DaemonProc]:
    port = free_port()
    out, err = tmp_path / "daemon.out", tmp_path / "daemon.err"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "reconciler", "daemon", "--configs", str(rig.repo.configs),
                "--store", str(rig.store), "--probe", "off", "--debounce-ms", "50",
                "--interval", "10m", "--listen", f"{LOOPBACK}:{port}", "--revision", "rev-1",
                "--log-format", "json",
            ],
            stdout=o, stderr=e, env=rig.env, cwd=tmp_path,
        )  # fmt: skip
    d = DaemonProc(proc, port, rig.store, rig.repo.configs, out, err, rig.env)
    try:
        wait_for("/readyz 200", lambda: d.get("/readyz")[0] == 200, timeout=20)
        yield d
    finally:
        code, _ = d.stop()
        assert code == 0, d.output()


def _status(d: DaemonProc) -> dict[str, dict[str, str]]:
    code, body = d.get("/status")
    assert code == 200
    return {s["scope"]: s["conditions"] for s in json.loads(body)["scopes"]}


def test_daemon_syncs_at_start_then_only_what_an_edit_changes(
    rig: TargetRig, daemon: DaemonProc
) -> None:
    wait_for("4 partitions written", lambda: len(rig.puts()) == 4, timeout=15)
    synced = daemon.wait_event("target.synced")
    assert synced["target"] == "prod" and synced["count"] == 4
    wait_for(
        "Synced/prod on every scope",
        lambda: all(
            c.get("Synced/prod", {}).get("status") == "True" for c in _status(daemon).values()
        ),
        timeout=10,
    )
    wait_for(
        "the sync metrics",
        lambda: (
            daemon.metric("mailctl_target_sync_scopes", target="prod", status="synced") == 4
            and daemon.metric("mailctl_target_sync_total", target="prod", result="synced") == 4
        ),
        timeout=10,
    )
    rig.server.clear()
    atomic_write(rig.repo.configs / "host.yaml", host_yaml(port=2587))
    wait_for("the cascade written", lambda: len(rig.puts()) == 3, timeout=15)
    assert rig.puts() == {
        PARTS["host"]: ["Email.Smtp.Port"],
        PARTS["org/acme"]: ["Email.Smtp.Port"],
        PARTS["org/umbrella"]: ["Email.Smtp.Port"],
    }
    assert rig.server.api_requests("GET") == []  # an edit syncs what changed, no drift reads


def test_a_target_outage_never_rolls_back_and_is_retried(
    rig: TargetRig, daemon: DaemonProc
) -> None:
    wait_for("first sync", lambda: len(rig.puts()) == 4, timeout=15)
    rig.server.fail("PUT", 403, times=1000)
    atomic_write(rig.repo.configs / "host.yaml", host_yaml(port=2599))
    failed = daemon.wait_event("target.failed")
    assert failed["reason"] == "Forbidden" and failed["count"] == 3
    conditions = _status(daemon)
    assert conditions["host"]["Synced/prod"]["status"] == "False"
    assert conditions["host"]["Ready"]["reason"] == "NotSynced"
    assert conditions["org/globex"]["Ready"]["status"] == "True"
    assert daemon.scopes()["host"].effective["smtp.port"] == 2599  # committed anyway
    wait_for(
        "3 scopes failed in the metrics",
        lambda: daemon.metric("mailctl_target_sync_scopes", target="prod", status="failed") == 3,
        timeout=10,
    )
    # SIGHUP resyncs: the outage is over, everything is brought in line (and checked).
    rig.server.faults.clear()
    daemon.proc.send_signal(1)
    wait_for(
        "host synced again",
        lambda: _status(daemon)["host"]["Synced/prod"]["status"] == "True",
        timeout=15,
    )
    assert rig.server.settings[PARTS["org/acme"]]["Email.Smtp.Port"] == "2599"
    wait_for("4 scopes ready", lambda: daemon.metric("mailctl_scopes_ready") == 4, timeout=10)


def test_daemon_hands_a_pruned_org_partition_back_to_the_host_settings(
    rig: TargetRig, daemon: DaemonProc
) -> None:
    wait_for("first sync", lambda: len(rig.puts()) == 4, timeout=15)
    rig.server.clear()
    (rig.repo.configs / "orgs" / "globex.yaml").unlink()
    wait_for("the pruned org's partition written", lambda: len(rig.puts()) == 1, timeout=15)
    wait_for(
        "the host's settings in globex's partition",
        lambda: rig.server.settings[PARTS["org/globex"]] == rig.server.settings[PARTS["host"]],
        timeout=10,
    )
    assert list(rig.puts()) == [PARTS["org/globex"]]
    assert "org/globex" not in _status(daemon)
    wait_for(
        "its sync state forgotten",
        lambda: daemon.metric("mailctl_target_sync_scopes", target="prod", status="synced") == 3,
        timeout=10,
    )
