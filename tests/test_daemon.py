"""End-to-end: the real ``mailctl daemon`` process against a real ``mailctl sink`` process,
with real files in a temporary folder (DESIGN §5)."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from reconciler import conditions as cond
from reconciler.store import ScopeRecord
from tests.fixtures_daemon import (
    DaemonProc,
    SinkProc,
    atomic_write,
    custom_org,
    default_org,
    wait_for,
    write_configs,
)

ALL = {"host", "org/acme", "org/globex", "org/initech", "org/umbrella"}
StartDaemon = Callable[..., DaemonProc]


def _display(d: DaemonProc, scope: str) -> str | None:
    rec = d.scopes().get(scope)
    return None if rec is None else rec.effective.get("from.displayName")


def _all_probed(d: DaemonProc) -> dict[str, ScopeRecord] | None:
    records = d.scopes()
    return records if all(r.probe is not None for r in records.values()) else None


def _tamper(store: Path, scope: str, value: str) -> None:
    """Edit the store out of band, as a careless admin with sqlite3 would."""
    with sqlite3.connect(store) as conn:
        conn.execute(
            """UPDATE scopes SET effective = json_set(effective, '$."from.displayName"', ?)
               WHERE scope = ?""",
            (value, scope),
        )


def test_start_edit_probe_metrics_and_no_secret_in_output(
    sink: SinkProc, default_daemon: DaemonProc
) -> None:
    d = default_daemon

    # Ready: every scope in the store; each probe result is stored as it completes.
    assert set(d.scopes()) == ALL
    records = wait_for("every probe stored", lambda: _all_probed(d), timeout=10)
    for rec in records.values():
        assert rec.probe is not None and rec.probe["status"] == "passed", rec.scope
        assert cond.is_ready(rec.conditions), rec.scope
    assert d.get("/healthz")[0] == 200
    assert d.get("/nope")[0] == 404
    code, body = d.get("/status")
    status = json.loads(body)
    assert code == 200 and status["format_version"] == "1.0"
    assert {s["scope"] for s in status["scopes"]} == ALL
    assert d.metric("mailctl_reconcile_total", result="success") >= 1
    assert d.metric("mailctl_scope_ready", scope="org/initech") == 1
    passed_before = wait_for(
        "probe counter", lambda: d.metric("mailctl_probe_total", result="passed", stage="quit")
    )
    success_before = d.metric("mailctl_reconcile_total", result="success")
    assert d.metric("mailctl_last_applied_revision_info", revision="test-rev") == 1

    # Edit an org file: applied and its probe message arrives at the sink within 3 s.
    seen = set(sink.probes_for("org/globex"))
    t0 = time.monotonic()
    atomic_write(d.configs / "orgs" / "globex.yaml", custom_org("globex", sink.port, "Edited"))
    wait_for("globex applied", lambda: _display(d, "org/globex") == "Edited", timeout=3)
    wait_for("globex probe mail", lambda: set(sink.probes_for("org/globex")) - seen, timeout=3)
    assert time.monotonic() - t0 < 3
    d.wait_event("scope.applied", lambda e: e.get("scope") == "org/globex")
    finished = d.wait_event("reconcile.finished", lambda e: e.get("kind") == "incremental")
    assert "Reconciliation finished in" in finished["message"]
    assert "next run in" in finished["message"]
    assert {"revision", "duration_ms"} <= set(finished)

    # Metrics moved.
    wait_for(
        "reconcile counter",
        lambda: d.metric("mailctl_reconcile_total", result="success") > success_before,
    )
    wait_for(  # counted once its result is stored
        "probe counter moved",
        lambda: d.metric("mailctl_probe_total", result="passed", stage="quit") > passed_before,
    )
    assert d.metric("mailctl_suspended") == 0

    # A file holding the secret as a literal is invalid, and the secret is still not logged.
    leaky = d.configs / "orgs" / "leaky.yaml"
    atomic_write(
        leaky,
        custom_org("leaky", sink.port, auth=True).replace(
            "{env: LEAKY_SMTP_PASSWORD}", sink.secret
        ),
    )
    d.wait_event("manifests.invalid", lambda e: str(e.get("file", "")).endswith("leaky.yaml"))
    leaky.unlink()
    # Editor debris is ignored: no reconcile for swap/backup/temp files.
    before = len(d.events("reconcile.started"))
    for junk in (".globex.yaml.swp", "globex.yaml~", "4913", "#globex.yaml#", "notes.txt"):
        (d.configs / "orgs" / junk).write_text("kind: [broken\n")
    time.sleep(0.5)
    assert not [e for e in d.events("manifests.invalid") if "leaky" not in str(e.get("file"))]
    assert len(d.events("reconcile.started")) <= before + 1  # at most the leaky removal

    code, took = d.stop(signal.SIGTERM)
    assert code == 0 and took < 10
    out = d.output()
    assert sink.secret not in out
    assert "Traceback" not in out
    assert "daemon.stopped" in out


def test_broken_manifest_stalls_recovers_prune_and_empty_folder(
    sink: SinkProc, default_daemon: DaemonProc
) -> None:
    d = default_daemon
    orgs = d.configs / "orgs"
    acme_before = d.scopes()["org/acme"]

    # A broken (or half-written) file: logged with file:line, the org keeps its settings
    # and turns Stalled, other orgs still apply.
    (orgs / "acme.yaml").write_text("apiVersion: mailctl/v1\nkind: OrgMailSettings\nmetadata: [\n")
    bad = d.wait_event("manifests.invalid", lambda e: str(e.get("file")).endswith("acme.yaml"))
    assert isinstance(bad["line"], int) and bad["rule"]
    assert f"acme.yaml:{bad['line']}:" in bad["message"]
    stalled = d.wait_event("scope.stalled", lambda e: e.get("scope") == "org/acme")
    assert "acme.yaml:" in str(stalled["location"])

    def acme_stalled() -> bool:
        return cond.is_stalled(d.scopes()["org/acme"].conditions)

    wait_for("acme Stalled", acme_stalled)
    acme = d.scopes()["org/acme"]
    assert acme.effective == acme_before.effective
    assert not cond.is_ready(acme.conditions)
    atomic_write(orgs / "globex.yaml", custom_org("globex", sink.port, "Still applies"))
    wait_for("globex applied", lambda: _display(d, "org/globex") == "Still applies")
    assert acme_stalled()

    # Fixed: recovered.
    atomic_write(orgs / "acme.yaml", default_org("acme"))
    wait_for("acme Ready", lambda: cond.is_ready(d.scopes()["org/acme"].conditions))
    assert not acme_stalled()

    # Delete an org file: pruned.
    (orgs / "umbrella.yaml").unlink()
    wait_for("umbrella pruned", lambda: "org/umbrella" not in d.scopes())
    d.wait_event("scope.pruned", lambda e: e.get("scope") == "org/umbrella")

    # Empty the folder: nothing pruned, the error is reported.
    left = set(d.scopes())
    for path in sorted(d.configs.rglob("*.yaml")):
        path.unlink()
    failed = d.wait_event("reconcile.failed")
    assert "prun" in failed["message"] or "host" in failed["message"]
    time.sleep(0.3)
    assert set(d.scopes()) == left
    assert d.get("/healthz")[0] == 200
    code, took = d.stop(signal.SIGINT)
    assert code == 0 and took < 10


def test_store_drift_corrected_at_the_interval_resync(
    tmp_path: Path, sink: SinkProc, start_daemon: StartDaemon
) -> None:
    d = start_daemon(write_configs(tmp_path, sink.port), interval="2s")
    wait_for("every probe stored", lambda: _all_probed(d), timeout=10)

    def passed() -> float:
        return d.metric("mailctl_probe_total", result="passed", stage="quit")

    wait_for("3 distinct configurations probed", lambda: passed() == 3)
    _tamper(d.store, "org/globex", "Tampered")
    assert _display(d, "org/globex") == "Tampered"
    wait_for("drift corrected", lambda: _display(d, "org/globex") == "Alerts", timeout=6)
    event = d.wait_event("drift.corrected", lambda e: e.get("scope") == "org/globex")
    assert "from.displayName" in event["fields"]
    # The corrected settings are probed again; the healthy rest is not (--probe-interval).
    wait_for("globex re-probed", lambda: passed() == 4)
    resyncs = len(d.events("reconcile.finished"))
    wait_for("two more resyncs", lambda: len(d.events("reconcile.finished")) >= resyncs + 2)
    assert passed() == 4
    code, _ = d.stop()
    assert code == 0


def test_suspend_resume_sighup_and_sigterm(sink: SinkProc, default_daemon: DaemonProc) -> None:
    d = default_daemon
    store = str(d.store)
    assert d.mailctl("suspend", "--store", store, "--reason", "maintenance").returncode == 0
    d.wait_event("reconcile.suspended", lambda e: e.get("reason") == "maintenance")
    wait_for("suspended gauge", lambda: d.metric("mailctl_suspended") == 1)

    atomic_write(d.configs / "orgs" / "globex.yaml", custom_org("globex", sink.port, "Waited"))
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # the edit must wait while suspended
        assert _display(d, "org/globex") == "Alerts"
        time.sleep(0.05)

    assert d.mailctl("resume", "--store", store).returncode == 0
    wait_for("applied after resume", lambda: _display(d, "org/globex") == "Waited", timeout=4)
    assert d.metric("mailctl_suspended") == 0

    # SIGHUP: immediate resync (corrects an out-of-band edit right away).
    _tamper(d.store, "org/acme", "Tampered")
    before = len(d.events("reconcile.started"))
    d.proc.send_signal(signal.SIGHUP)
    wait_for("SIGHUP resync", lambda: _display(d, "org/acme") == "Platform Notifications")
    started = d.events("reconcile.started")[before:]
    assert any(e.get("kind") == "resync" for e in started)

    code, took = d.stop(signal.SIGTERM)
    assert code == 0 and took < 10


def test_git_revision_is_recorded(
    tmp_path: Path, sink: SinkProc, start_daemon: StartDaemon
) -> None:
    configs = write_configs(tmp_path, sink.port)

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    git("init", "-q")
    git("add", "configs")
    git("commit", "-qm", "configs")
    head = git("rev-parse", "HEAD")
    d = start_daemon(configs, revision=None)
    assert d.scopes()["host"].last_applied_revision == head
    atomic_write(configs / "orgs" / "globex.yaml", custom_org("globex", sink.port, "Dirty"))
    wait_for("dirty revision", lambda: d.scopes()["org/globex"].last_applied_revision)
    wait_for(
        "dirty revision recorded",
        lambda: d.scopes()["org/globex"].last_applied_revision == f"{head}-dirty",
    )
    assert d.stop()[0] == 0


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "daemon", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=30,
        check=False,
    )


def test_startup_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    missing = _run("--configs", str(tmp_path / "nope"), "--store", "s.db", cwd=tmp_path)
    assert missing.returncode != 0
    lines = missing.stderr.strip().splitlines()
    assert "nope" in lines[0] and "Traceback" not in missing.stderr
    assert len([ln for ln in lines if not ln.startswith("  hint:")]) == 1

    (tmp_path / "configs").mkdir()
    (tmp_path / "store.db").mkdir()
    bad_store = _run("--configs", "configs", "--store", "store.db", cwd=tmp_path)
    assert bad_store.returncode != 0
    assert "store" in bad_store.stderr and "Traceback" not in bad_store.stderr

    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a database" * 100)
    bad = _run("--configs", "configs", "--store", str(corrupt), cwd=tmp_path)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr

    listen = _run("--configs", "configs", "--listen", "nowhere", cwd=tmp_path)
    assert listen.returncode != 0 and "HOST:PORT" in listen.stderr
