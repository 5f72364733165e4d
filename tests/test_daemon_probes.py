"""Probes never block reconciliation (DESIGN §10): the real ``mailctl daemon`` process, a
real ``mailctl sink``, and a real silent TCP server (accepts, never answers) on another
loopback address; plus the pure re-probe schedule of :mod:`reconciler.daemon.probes`."""

from __future__ import annotations

import itertools
import json
import signal
import socket
import time
from datetime import datetime
from pathlib import Path

import pytest

from bench._common import HealthPoller, SilentServer
from reconciler import conditions as cond
from reconciler.daemon.probes import BACKOFF_S, ProbeSchedule
from reconciler.store import open_store
from tests.fixtures_daemon import (
    DaemonProc,
    SinkProc,
    StartDaemon,
    atomic_write,
    custom_org,
    hanging_org,
    wait_for,
    write_configs,
)

HANGING = 200


# ---------------------------------------------------------------------------- schedule


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(1, 60.0), (2, 300.0), (3, 900.0), (4, 3600.0), (5, 3600.0), (40, 3600.0)],
)
def test_failed_configurations_back_off_1m_5m_15m_then_hourly(failures: int, delay: float) -> None:
    assert ProbeSchedule().delay(False, failures) == delay


def test_healthy_configurations_wait_for_the_probe_interval() -> None:
    assert ProbeSchedule().delay(True, 0) == 6 * 3600
    assert ProbeSchedule(interval_s=30).delay(True, 0) == 30
    assert ProbeSchedule(backoff_s=(1.0, 2.0)).delay(False, 9) == 2.0
    assert BACKOFF_S == (60.0, 300.0, 900.0, 3600.0)


@pytest.mark.parametrize(
    ("status", "age_s", "due_in"),
    [
        (None, 0.0, 0.0),  # never probed: due now
        ("passed", 3600.0, 5 * 3600.0),  # an hour ago: five more hours
        ("failed", 30.0, 30.0),  # first backoff step (1 m) from the last failure
        ("failed", 600.0, -540.0),  # overdue
    ],
)
def test_due_time_from_the_last_stored_result(
    status: str | None, age_s: float, due_in: float
) -> None:
    now = 1_800_000_000.0
    at = datetime.fromtimestamp(now - age_s).astimezone().isoformat() if status else None
    assert ProbeSchedule().due_in(status, at, now) == pytest.approx(due_in, abs=0.01)
    assert ProbeSchedule().due_in("passed", "not a time", now) == 0.0


# ---------------------------------------------------------------------------- servers


def _probe_log(d: DaemonProc, scope: str) -> list[dict[str, object]]:
    with open_store(d.store, create=False) as st:
        return list(reversed(st.probe_log(scope)))  # oldest first


def _logged(d: DaemonProc, scope: str, at_least: int) -> list[dict[str, object]] | None:
    log = _probe_log(d, scope)
    return log if len(log) >= at_least else None


def _at(result: dict[str, object]) -> float:
    return datetime.fromisoformat(str(result["at"]).replace("Z", "+00:00")).timestamp()


# ---------------------------------------------------------------------------- daemon


def test_hanging_probes_never_hold_an_edit_health_or_the_stop(
    tmp_path: Path, sink: SinkProc, silent: SilentServer, start_daemon: StartDaemon
) -> None:
    hanging = [f"hang{i:03d}" for i in range(HANGING)]
    fast = ["fast1", "fast2", "edited"]
    texts = {name: hanging_org(name, silent) for name in hanging}
    texts |= {name: custom_org(name, sink.port, f"Fast {name}") for name in fast}
    configs = write_configs(tmp_path, sink.port, texts)
    orgs = configs / "orgs"

    debounce_s = 0.05
    d = start_daemon(configs, debounce_ms=int(debounce_s * 1000))
    ready_at = time.monotonic()
    health = HealthPoller(d.port)

    # Probes hang on the silent server (bounded per host), the fast ones complete and are
    # stored at once, while the hanging ones are still pending.
    wait_for("probes hanging on the silent server", lambda: silent.accepted >= 4, timeout=10)

    def fast_stored() -> dict[str, object] | None:
        records = d.scopes()
        done = [records[f"org/{n}"].probe for n in fast] + [records["host"].probe]
        return records if all(p and p["status"] == "passed" for p in done) else None  # type: ignore[return-value]

    records = wait_for("fast probe results stored", fast_stored, timeout=15)
    elapsed = time.monotonic() - ready_at
    pending = [n for n in hanging if d.scopes()[f"org/{n}"].probe is None]
    # At most 4 (per-host bound) silent probes can end per 20 s timeout.
    assert len(pending) >= HANGING - 4 * (int(elapsed // 20) + 1), elapsed
    assert records  # the fast results are in the store, not held behind the batch

    # An edit to another org applies within the debounce + its own work.
    t0 = time.monotonic()
    atomic_write(orgs / "edited.yaml", custom_org("edited", sink.port, "After"))
    wait_for("edit applied", lambda: d.display_name("org/edited") == "After", timeout=10)
    took = time.monotonic() - t0
    assert took < debounce_s + 1.0, f"edit applied after {took:.3f}s"
    status = json.loads(d.mailctl("status", "--store", str(d.store), "--format", "json").stdout)
    edited = next(s for s in status["scopes"] if s["scope"] == "org/edited")
    assert edited["conditions"]["Ready"]["status"] == "True"
    wait_for(
        "the edited org's new probe stored",
        lambda: (d.scopes()["org/edited"].probe or {}).get("status") == "passed",
        timeout=10,
    )
    assert silent.accepted < HANGING  # the silent probes are still going on

    # SIGTERM while probes hang: exit 0 within 10 s, /healthz was 200 all along.
    time.sleep(0.5)
    codes = health.stop()
    assert codes and set(codes) == {200}, sorted(set(codes))
    code, stop_took = d.stop(signal.SIGTERM)
    assert code == 0 and stop_took < 10
    out = d.output()
    assert "Traceback" not in out and sink.secret not in out
    assert not [e for e in d.events("probe.failed") if str(e.get("scope")).startswith("org/fast")]


def test_resync_probes_only_what_is_due_and_failures_back_off(
    tmp_path: Path, sink: SinkProc, start_daemon: StartDaemon
) -> None:
    configs = write_configs(tmp_path, sink.port)  # host (+2 inheriting), globex, initech
    with socket.socket() as closed:  # a port nobody listens on: connect refused at once
        closed.bind(("127.0.0.1", 0))
        refused_port = int(closed.getsockname()[1])
    (configs / "orgs" / "refused.yaml").write_text(custom_org("refused", refused_port))
    probe_interval, backoff = 6.0, (1.0, 2.0)
    d = start_daemon(
        configs,
        interval="1s",
        extra=("--probe-interval", f"{probe_interval:g}s", "--probe-backoff", "1s,2s"),
    )

    # The failing scope is re-probed on the backoff schedule: 1 s, then every 2 s.
    failures = wait_for("four failed probes", lambda: _logged(d, "org/refused", 4), timeout=20)
    assert all(r["status"] == "failed" and r["class"] == "connect_refused" for r in failures)
    gaps = [_at(b) - _at(a) for a, b in itertools.pairwise(failures)]
    assert gaps[0] >= backoff[0] - 0.05, gaps
    assert all(g >= backoff[1] - 0.05 for g in gaps[1:]), gaps
    assert not cond.is_ready(d.scopes()["org/refused"].conditions)

    # Healthy scopes: resyncs ran every second, yet no re-probe before --probe-interval.
    resyncs = [e for e in d.events("reconcile.finished") if e.get("kind") == "resync"]
    assert len(resyncs) >= 3
    host_log = wait_for("host re-probed", lambda: _logged(d, "host", 2), timeout=15)
    assert _at(host_log[1]) - _at(host_log[0]) >= probe_interval - 0.05
    for scope in ("org/globex", "org/initech"):
        log = _probe_log(d, scope)
        assert all(_at(b) - _at(a) >= probe_interval - 0.05 for a, b in itertools.pairwise(log))
    # One probe per distinct configuration: the sink saw one message per stored result
    # (the host's probe is shared by the inheriting orgs).
    assert len(sink.probes_for("host")) >= len(_probe_log(d, "host"))
    assert len(sink.probes_for("org/acme")) == 0
    assert {r["probe_id"] for r in host_log} <= set(sink.probes_for("host"))
    assert d.stop()[0] == 0


def test_a_settings_change_cancels_the_probe_in_flight(
    tmp_path: Path, sink: SinkProc, silent: SilentServer, start_daemon: StartDaemon
) -> None:
    configs = write_configs(tmp_path, sink.port)
    timeout_s = 3.0
    moving = configs / "orgs" / "moving.yaml"
    moving.write_text(hanging_org("moving", silent, timeout_ms=int(timeout_s * 1000)))
    d = start_daemon(configs)
    wait_for("the probe hangs on the silent server", lambda: silent.accepted >= 1, timeout=10)
    hung_at = time.monotonic()

    atomic_write(moving, custom_org("moving", sink.port, "Moved"))
    event = d.wait_event("probe.cancelled", lambda e: e.get("scope") == "org/moving")
    assert event["reason"] == "settings changed"
    wait_for(
        "the new settings' probe stored",
        lambda: (d.scopes()["org/moving"].probe or {}).get("status") == "passed",
        timeout=10,
    )
    # Past the moment the stale probe would have timed out: its result never lands.
    time.sleep(max(hung_at + timeout_s + 1.0 - time.monotonic(), 0.0))
    log = _probe_log(d, "org/moving")
    assert [r["status"] for r in log] == ["passed"], log
    assert not [e for e in d.events("probe.failed") if e.get("scope") == "org/moving"]
    assert cond.is_ready(d.scopes()["org/moving"].conditions)
    assert d.stop()[0] == 0
