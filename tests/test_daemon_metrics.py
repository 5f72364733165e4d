"""``reconciler.daemon.metrics``: exposition that passes ``promtool check metrics`` (on a real
daemon's ``/metrics``), OpenMetrics on request, bounded per-scope series that never hide a
scope that is not Ready (5,000 scopes from a real store), build info and process metrics."""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as text_families

from bench.gen import generate, org_name
from reconciler import __version__
from reconciler.daemon.metrics import MAX_SCOPE_SERIES, DaemonMetrics
from reconciler.operations import status_payload
from reconciler.reconcile import apply_run
from reconciler.resolve import load_platform_defaults
from reconciler.store import open_store
from reconciler.validate import validate_paths
from tests.fixtures_daemon import (
    DaemonProc,
    SinkProc,
    StartDaemon,
    custom_org,
    free_port,
    wait_for,
    write_configs,
)
from tests.realservers import require_program

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


@pytest.fixture(name="promtool")
def promtool_fixture() -> Callable[[bytes], subprocess.CompletedProcess[str]]:
    exe = require_program(
        "MAILCTL_REQUIRE_PROMTOOL", "promtool", "install the Debian package 'prometheus'"
    )

    def check(body: bytes) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [exe, "check", "metrics"],
            input=body.decode(),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    return check


def _samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _scrape(d: DaemonProc, accept: str | None = None) -> tuple[str, bytes]:
    req = urllib.request.Request(d.url("/metrics"))
    if accept:
        req.add_header("Accept", accept)
    with urllib.request.urlopen(req, timeout=5) as resp:
        return str(resp.headers["Content-Type"]), resp.read()


def test_real_daemon_metrics_pass_promtool_and_negotiate_openmetrics(
    tmp_path: Path,
    sink: SinkProc,
    start_daemon: StartDaemon,
    promtool: Callable[[bytes], subprocess.CompletedProcess[str]],
) -> None:
    configs = write_configs(tmp_path, sink.port)
    closed = free_port()  # nothing listens: this org's probe fails, so it is not Ready
    (configs / "orgs" / "broken.yaml").write_text(custom_org("broken", closed))
    # Held before its first apply (invalid from the start): not in the store, still counted.
    (configs / "orgs" / "fresh.yaml").write_text(custom_org("fresh", 99999))
    d = start_daemon(configs)
    wait_for(
        "five of seven scopes Ready",
        lambda: d.metric("mailctl_scopes") == 7.0 and d.metric("mailctl_scopes_ready") == 5.0,
        timeout=10,
    )

    ctype, body = _scrape(d)
    assert ctype.startswith("text/plain; version=0.0.4")
    checked = promtool(body)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout + checked.stderr == ""  # not even a lint warning
    samples = _samples(body)
    assert samples[("mailctl_scope_ready", (("scope", "org/broken"),))] == 0.0
    assert samples[("mailctl_scope_ready", (("scope", "org/acme"),))] == 1.0
    assert samples[("mailctl_scope_ready", (("scope", "org/fresh"),))] == 0.0
    assert samples[("mailctl_scopes", ())] == 7.0
    stalled = (("condition", "Stalled"), ("status", "True"))
    assert samples[("mailctl_scopes_by_condition", stalled)] == 1.0  # org/fresh
    assert samples[("mailctl_scopes_by_condition", (("condition", "Ready"), ("status", "False")))]
    assert samples[("mailctl_scope_series_truncated", ())] == 0.0
    build = [k for k in samples if k[0] == "mailctl_build_info"]
    assert build and ("version", __version__) in build[0][1]
    assert samples[("process_resident_memory_bytes", ())] > 0
    assert samples[("process_open_fds", ())] > 0
    assert any(k[0] == "python_info" for k in samples)
    assert not any(k[0] == "mailctl_scopes_total" for k in samples)  # renamed: not a counter

    # OpenMetrics when asked (promtool reads only the text format: parse it with the
    # OpenMetrics parser, which rejects anything malformed, e.g. a missing "# EOF").
    ctype, body = _scrape(d, f"{OPENMETRICS}, text/plain;q=0.5")
    assert ctype.startswith("application/openmetrics-text; version=1.0.0")
    assert body.endswith(b"# EOF\n")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert families["mailctl_build"].type == "info"
    assert families["mailctl_reconcile"].type == "counter"
    assert families["mailctl_last_applied_revision"].samples[0].labels == {"revision": "test-rev"}
    ready = {s.labels["scope"]: s.value for s in families["mailctl_scope_ready"].samples}
    assert ready["org/broken"] == 0.0


def _five_thousand_with_three_not_ready(tmp_path: Path) -> tuple[Path, list[str]]:
    """A real store of 5,001 scopes (bench generator) in which three orgs are held
    (Stalled, not Ready) because their files broke after the first apply."""
    configs = generate(tmp_path / "configs", orgs=5000, custom=0.0)
    platform = load_platform_defaults(None)
    store_path = tmp_path / "mailctl.db"
    broken = [org_name(i) for i in (7, 2500, 4999)]
    with open_store(store_path) as st:
        apply_run(st, validate_paths([configs]), platform=platform, revision="r1", policy="off")
        for name in broken:
            (configs / "orgs" / f"{name}.yaml").write_text("spec: [unclosed\n")
        apply_run(st, validate_paths([configs]), platform=platform, revision="r2", policy="off")
    return store_path, [f"org/{n}" for n in broken]


def test_5000_scopes_keep_every_not_ready_series(
    tmp_path: Path, promtool: Callable[[bytes], subprocess.CompletedProcess[str]]
) -> None:
    store_path, broken = _five_thousand_with_three_not_ready(tmp_path)
    with open_store(store_path, create=False) as st:
        payload = status_payload(st)
    assert len(payload["scopes"]) == 5001
    m = DaemonMetrics()
    m.set_conditions({s["scope"]: s["conditions"] for s in payload["scopes"]}, replace=True)
    body, _ = m.render()
    checked = promtool(body)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    samples = _samples(body)
    per_scope = {k[1][0][1]: v for k, v in samples.items() if k[0] == "mailctl_scope_ready"}
    assert per_scope == {scope: 0.0 for scope in broken}
    assert samples[("mailctl_scope_series_truncated", ())] == 4998.0
    assert samples[("mailctl_scopes", ())] == 5001.0
    assert samples[("mailctl_scopes_ready", ())] == 4998.0
    by = {k[1]: v for k, v in samples.items() if k[0] == "mailctl_scopes_by_condition"}
    assert by[(("condition", "Ready"), ("status", "False"))] == 3.0
    assert by[(("condition", "Stalled"), ("status", "True"))] == 3.0
    assert by[(("condition", "Ready"), ("status", "True"))] == 4998.0


@pytest.mark.parametrize(
    ("scopes", "not_ready", "series", "truncated"),
    [
        (10, 3, 10, 0),  # under the cap: every scope has its series
        (MAX_SCOPE_SERIES, 0, MAX_SCOPE_SERIES, 0),  # at the cap: still all
        (MAX_SCOPE_SERIES + 1, 0, 0, MAX_SCOPE_SERIES + 1),  # above: Ready ones dropped
        (MAX_SCOPE_SERIES + 500, 1200, 1200, 300),  # above: every not-Ready one kept
    ],
)
def test_per_scope_series_are_capped_without_dropping_problems(
    scopes: int, not_ready: int, series: int, truncated: int
) -> None:
    m = DaemonMetrics()
    m.set_ready({f"org/o{i:05d}": i >= not_ready for i in range(scopes)}, replace=True)
    samples = _samples(m.render()[0])
    shown = {k[1][0][1]: v for k, v in samples.items() if k[0] == "mailctl_scope_ready"}
    assert len(shown) == series
    assert sum(1 for v in shown.values() if v == 0.0) == not_ready
    assert samples[("mailctl_scope_series_truncated", ())] == truncated
    assert samples[("mailctl_scopes_ready", ())] == scopes - not_ready


def test_counters_histogram_revision_and_suspend() -> None:
    m = DaemonMetrics()
    m.observe_reconcile("full", 0.01, "success")
    m.observe_probes([{"status": "passed", "stage": "quit"}, {"status": "failed", "stage": "auth"}])
    m.set_revision("abc")
    m.set_suspended(True)
    m.set_ready({"host": True})
    m.set_conditions({"org/a": {"Ready": {"status": "False"}, "Stalled": {"status": "True"}}})
    m.drop_scopes(["host"])
    samples = _samples(m.render()[0])
    assert samples[("mailctl_reconcile_total", (("result", "success"),))] == 1.0
    assert samples[("mailctl_reconcile_total", (("result", "held"),))] == 0.0
    assert samples[("mailctl_probe_total", (("result", "failed"), ("stage", "auth")))] == 1.0
    assert samples[("mailctl_reconcile_duration_seconds_count", (("kind", "full"),))] == 1.0
    assert samples[("mailctl_last_applied_revision_info", (("revision", "abc"),))] == 1.0
    assert samples[("mailctl_suspended", ())] == 1.0
    assert samples[("mailctl_scopes", ())] == 1.0
    assert ("mailctl_scope_ready", (("scope", "host"),)) not in samples
