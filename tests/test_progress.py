"""``reconciler.progress``: long work is never silent.

- a real pseudo-terminal: ``apply`` on 10,000 orgs shows what is done and what is left on
  stderr within 2 s, erases it at the end, and never touches stdout (JSON stays JSON);
- no terminal, no progress;
- ``apply --log-format json`` streams events as they happen: ``scope.applied`` right after
  the commit, each probe result as it completes — while a probe to a silent server still
  hangs (real aiosmtpd server, real silent socket);
- the renderer's drawing rules with a fake clock.
"""

from __future__ import annotations

import io
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bench.gen import generate
from reconciler.progress import Fanout, NullProgress, TtyProgress, describe
from tests import manifests
from tests.fixtures_daemon import DaemonProc, SinkProc, wait_for, write_configs
from tests.fixtures_smtp import RunningServer, ServerSpec

ORGS = 10_000


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILCTL_")}
    env.pop("NO_COLOR", None)
    env["TERM"] = "xterm"
    env.update(extra)
    return env


@pytest.fixture(scope="module", name="big_configs")
def big_configs_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10,000 default-mode orgs and a host (probes are off in these runs)."""
    return generate(tmp_path_factory.mktemp("big") / "configs", orgs=ORGS, custom=0.0)


def _read_pty(fd: int, proc: subprocess.Popen[bytes]) -> Iterator[tuple[float, bytes]]:
    """(time since start, chunk) from the terminal side until the child is gone."""
    while True:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                return
            if not chunk:
                return
            yield time.monotonic(), chunk
        elif proc.poll() is not None:
            return


def test_apply_on_10000_orgs_shows_progress_on_a_terminal_within_2s(
    big_configs: Path, tmp_path: Path
) -> None:
    master, slave = os.openpty()
    out = (tmp_path / "stdout.json").open("wb")
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler",
            "apply",
            "--configs",
            str(big_configs),
            "--store",
            str(tmp_path / "s.db"),
            "--probe",
            "off",
            "--revision",
            "r1",
            "--format",
            "json",
        ],
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=slave,
        env=_env(),
    )
    os.close(slave)
    out.close()
    chunks = []
    try:
        chunks = list(_read_pty(master, proc))
    finally:
        os.close(master)
        code = proc.wait(timeout=120)
    assert code == 0
    text = b"".join(c for _, c in chunks).decode()
    first = next((t for t, c in chunks if b"reading manifests" in c), None)
    assert first is not None, text
    assert first - started < 2.0, f"first progress after {first - started:.2f}s"
    # What is done and what is left, with thousands separators, then the write.
    assert "reading manifests " in text and f"/{ORGS + 1:,}" in text
    assert f"applying {ORGS + 1:,} scopes" in text
    assert text.endswith("\r\x1b[K")  # erased at the end: the prompt comes back clean
    assert "\n" not in text  # one redrawn line, never a scroll of lines
    payload = json.loads((tmp_path / "stdout.json").read_text())  # stdout untouched
    assert len(payload["written"]) == ORGS + 1


def test_no_terminal_no_progress(big_configs: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler",
            "plan",
            "--configs",
            str(big_configs),
            "--store",
            str(tmp_path / "none.db"),
            "--format",
            "json",
        ],
        capture_output=True,
        env=_env(),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stderr == b""
    assert json.loads(proc.stdout)["summary"]["create"] == ORGS + 1


@pytest.fixture(name="plain_server")
def plain_server_fixture(smtp_server: Callable[[ServerSpec], RunningServer]) -> RunningServer:
    return smtp_server(ServerSpec(tls="none"))


def test_log_format_json_streams_events_as_they_happen(
    tmp_path: Path, plain_server: RunningServer, silent_port: int
) -> None:
    """The applied scopes and the fast probe's result reach stderr while a probe to a
    silent server still hangs — not all at once at the end."""
    configs = tmp_path / "configs"
    (configs / "orgs").mkdir(parents=True)
    (configs / "host.yaml").write_text(manifests.host(port=plain_server.port, tls="none"))
    (configs / "orgs" / "acme.yaml").write_text(manifests.org("acme"))
    (configs / "orgs" / "quiet.yaml").write_text(
        manifests.org(
            "quiet", "custom", port=silent_port, tls="none", timeout_ms=3000, probe_to="p@q.example"
        )
    )
    args = ["apply", "--configs", str(configs), "--store", str(tmp_path / "s.db")]
    seen: list[dict[str, Any]] = []
    arrived: dict[str, float] = {}
    with subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args, "--revision", "r1", "--log-format", "json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=_env(),
    ) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            event = json.loads(line)
            seen.append(event)
            key = f"{event['event']} {event.get('scope')}"
            arrived.setdefault(key, time.monotonic())
        proc.wait(timeout=60)
    assert proc.returncode == 3  # applied; the silent server's probe failed
    names = [f"{e['event']} {e.get('scope')}" for e in seen]
    applied = [n for n in names if n.startswith("scope.applied")]
    assert sorted(applied) == [
        "scope.applied host",
        "scope.applied org/acme",
        "scope.applied org/quiet",
    ]
    passed = names.index("probe.passed host")
    failed = names.index("probe.failed org/quiet")
    assert max(names.index(a) for a in applied) < passed < failed
    # Streamed: the commit's events and the fast probe arrived while the probe to the
    # silent server still waited out its 3 s timeout, not together at the end.
    hung = arrived["probe.failed org/quiet"]
    assert hung - arrived["scope.applied org/quiet"] > 1.5
    assert hung - arrived["probe.passed host"] > 1.5
    quiet = seen[failed]
    assert quiet["failure_class"] in {"timeout", "connect_timeout"}, quiet


def test_daemon_logs_each_probe_as_it_completes(
    tmp_path: Path,
    sink: SinkProc,
    silent_port: int,
    start_daemon: Callable[..., DaemonProc],
) -> None:
    configs = write_configs(tmp_path, sink.port)
    (configs / "orgs" / "quiet.yaml").write_text(
        manifests.org(
            "quiet", "custom", port=silent_port, tls="none", timeout_ms=3000, probe_to="p@q.example"
        )
    )
    d = start_daemon(configs, wait_ready=False)
    failed = wait_for(
        "the silent server's probe to fail",
        lambda: next((e for e in d.events("probe.failed") if e.get("scope") == "org/quiet"), None),
        timeout=20,
    )
    passed = d.events("probe.passed")
    assert passed  # the sink's probes
    when = datetime.fromisoformat
    # Logged when each completed: the sink's results seconds before the silent one's.
    assert (when(failed["ts"]) - when(passed[0]["ts"])).total_seconds() > 1.5
    applied = d.events("scope.applied")
    assert when(applied[-1]["ts"]) <= when(passed[0]["ts"])  # the commit before any probe


# ---------------------------------------------------------------- the renderer, fake clock


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_renderer_waits_then_redraws_one_line_and_erases_it() -> None:
    clock, out = Clock(), io.StringIO()
    bar = TtyProgress(out, delay_s=0.5, interval_s=0.1, clock=clock)
    bar.phase("reading manifests", 10_000)
    bar.step(100)
    assert out.getvalue() == ""  # quick work prints nothing
    clock.now += 0.6
    bar.step(3_900)
    assert out.getvalue() == "\r\x1b[Kreading manifests 4,000/10,000"
    clock.now += 0.05
    bar.step(1)
    assert out.getvalue().count("\r") == 1  # throttled
    clock.now += 1.0
    bar.phase("applying 10,001 scopes")
    assert out.getvalue().endswith("\r\x1b[Kapplying 10,001 scopes")
    clock.now += 2.0
    bar.phase("probing", 1_121)
    bar.step(37)  # within the throttle interval of the phase draw
    clock.now += 0.2
    bar.step(0)
    assert out.getvalue().endswith("\r\x1b[Kprobing 37/1,121")
    bar.finish()
    assert out.getvalue().endswith("\r\x1b[K")
    size = len(out.getvalue())
    bar.step(5)
    assert len(out.getvalue()) == size  # nothing after finish


@pytest.mark.parametrize(
    ("name", "done", "total", "text"),
    [
        ("probing", 37, 1121, "probing 37/1,121"),
        ("reading manifests", 0, 10_001, "reading manifests 0/10,001"),
        ("applying 4,000 scopes", 0, None, "applying 4,000 scopes"),
    ],
)
def test_describe(name: str, done: int, total: int | None, text: str) -> None:
    assert describe(name, done, total) == text


def test_fanout_calls_every_target() -> None:
    calls: list[tuple[str, Any]] = []

    class Recording(NullProgress):
        def phase(self, name: str, total: int | None = None) -> None:
            calls.append(("phase", name))

        def probed(self, outcome: Any) -> None:
            calls.append(("probed", outcome["status"]))

    fan = Fanout(Recording(), Recording())
    fan.phase("probing", 2)
    fan.step()
    fan.probed({"status": "passed"})
    fan.finish()
    assert calls == [("phase", "probing")] * 2 + [("probed", "passed")] * 2
