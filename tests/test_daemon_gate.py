"""``--probe gate`` in the daemon: only the gated scope waits (DESIGN §10).

The real ``mailctl daemon`` process, a real ``mailctl sink`` and a real silent TCP server
(accepts, never answers): an org whose new settings point at the silent server keeps its
previous settings while its gate probe hangs, and an edit to another org applies within
the debounce plus its own work (its own gate probe against the sink included)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from bench._common import HealthPoller, SilentServer
from reconciler import conditions as cond
from tests.fixtures_daemon import (
    SinkProc,
    StartDaemon,
    atomic_write,
    custom_org,
    hanging_org,
    wait_for,
    write_configs,
)

GATE_TIMEOUT_MS = 6000
# steady's own work includes its own gate probe (STARTTLS + AUTH + DATA against the sink)
# and two small transactions; on a quiet machine it takes ~0.3 s, under a load of 15+ on
# 2 cores up to ~1.5 s. Bounded well below the gated probe's hang either way.
OWN_WORK_S = 2.5


def test_a_hanging_gate_probe_holds_only_its_own_scope(
    tmp_path: Path, sink: SinkProc, silent: SilentServer, start_daemon: StartDaemon
) -> None:
    first = {name: custom_org(name, sink.port, "First") for name in ("gated", "steady")}
    configs = write_configs(tmp_path, sink.port, first)
    orgs = configs / "orgs"
    debounce_s = 0.05
    d = start_daemon(configs, debounce_ms=int(debounce_s * 1000), extra=("--probe", "gate"))
    health = HealthPoller(d.port)

    # Under gate even the first settings commit once their probe passed (against the sink).
    def committed() -> bool:
        records = d.scopes()
        return all(
            s in records and records[s].probe and records[s].probe["status"] == "passed"  # type: ignore[index]
            for s in ("host", "org/gated", "org/steady")
        )

    wait_for("first settings gated and committed", committed, timeout=15)
    first_port = d.scopes()["org/gated"].effective["smtp.port"]

    # gated's new server never answers: its gate probe hangs for GATE_TIMEOUT_MS.
    hanging = hanging_org("gated", silent, GATE_TIMEOUT_MS, "Second")
    atomic_write(orgs / "gated.yaml", hanging)
    wait_for("gate probe hanging on the silent server", lambda: silent.accepted >= 1, timeout=5)
    hung_at = time.monotonic()
    gated = d.scopes()["org/gated"]
    assert gated.effective["smtp.port"] == first_port  # the previous settings stay
    assert cond.is_gating(gated.conditions) and not cond.is_ready(gated.conditions)
    assert gated.conditions["Reconciling"]["status"] == "True"

    # An edit to another org is applied while gated's probe hangs: debounce + its own work
    # (its own gate probe against the sink), not gated's 6 s.
    written = time.monotonic()
    atomic_write(orgs / "steady.yaml", custom_org("steady", sink.port, "Edited"))
    wait_for("steady's edit applied", lambda: d.display_name("org/steady") == "Edited", timeout=5)
    took = time.monotonic() - written
    assert silent.accepted == 1 and time.monotonic() - hung_at < GATE_TIMEOUT_MS / 1000
    assert took < debounce_s + OWN_WORK_S, took
    gated = d.scopes()["org/gated"]  # still waiting, still the old settings
    assert cond.is_gating(gated.conditions) and d.display_name("org/gated") == "First"

    # The gate probe times out: gated is held (ProbeFailed) at its previous settings.
    def failed() -> bool:
        rec = d.scopes()["org/gated"]
        stalled = rec.conditions.get("Stalled", {})
        return stalled.get("status") == "True" and stalled.get("reason") == "ProbeFailed"

    wait_for("gate probe failed", failed, timeout=GATE_TIMEOUT_MS / 1000 + 5)
    gated = d.scopes()["org/gated"]
    assert gated.effective["smtp.port"] == first_port and d.display_name("org/gated") == "First"
    assert "gate probe failed: timeout" in gated.conditions["Stalled"]["message"]
    gating = d.events("gate.probing")
    assert any("org/gated" in e["scopes"] for e in gating)
    assert not any(e.get("kind") == "full" for e in d.events("reconcile.started")[1:])

    # Fixed again: the gate probe passes and the new settings commit.
    atomic_write(orgs / "gated.yaml", custom_org("gated", sink.port, "Third"))
    wait_for("gated's fix committed", lambda: d.display_name("org/gated") == "Third", timeout=10)
    assert cond.is_ready(d.scopes()["org/gated"].conditions)

    # A gate probe hanging again must not delay SIGTERM.
    atomic_write(orgs / "gated.yaml", hanging.replace("Second", "Fourth"))
    wait_for("hanging again", lambda: silent.accepted >= 2, timeout=5)
    codes = health.stop()
    assert codes and set(codes) == {200}
    code, seconds = d.stop(signal.SIGTERM)
    assert code == 0 and seconds < 10
