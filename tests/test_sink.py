"""``mailctl sink`` as a real subprocess, and the in-process ``Sink``, probed for real."""

from __future__ import annotations

import asyncio
import io
import mailbox
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.devtools.sink import Sink, SinkConfig, SinkError, SinkUser, parse_user
from reconciler.model import Auth, Effective, SecretRef, Sender, SmtpSettings
from reconciler.net import ListenError, parse_listen
from reconciler.probe import ProbeResult, probe
from tests.fixtures_smtp import LOOPBACK, free_port

PASSWORD = "demo-Pa55word"


def settings(port: int, tls: str, *, user: str | None, host: str = LOOPBACK) -> Effective:
    return Effective(
        smtp=SmtpSettings(
            host=host,
            port=port,
            tls=tls,  # type: ignore[arg-type]
            timeout_ms=5000,
            auth=Auth(user, SecretRef(env="DEMO_SMTP_PASSWORD")) if user else None,
        ),
        sender=Sender("notify@example.test", "Platform Notifications"),
        probe_to="probe@example.test",
    )


def run_probe(s: Effective, password: str | None, ca_file: str | None) -> ProbeResult:
    return asyncio.run(probe(s, password, scope_label="org/acme", ca_file=ca_file))


class SinkProcess:
    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler.devtools.sink_cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, needle: str, timeout: float = 10.0) -> str:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line containing {needle!r} on sink stdout") from None
            if needle in line:
                return line

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(timeout=5)
            assert self.proc.stdout is not None and self.proc.stderr is not None
            self.proc.stdout.close()
            self.stderr = self.proc.stderr.read()
            self.proc.stderr.close()
        return code


@pytest.fixture
def sink_process(tmp_path: Path) -> Iterator[type[SinkProcess]]:
    started: list[SinkProcess] = []

    class Tracked(SinkProcess):
        def __init__(self, args: list[str], env: dict[str, str]) -> None:
            super().__init__(args, env)
            started.append(self)

    yield Tracked
    for proc in started:
        if proc.proc.returncode is None:
            proc.stop()


@pytest.mark.parametrize(
    ("tls", "auth", "host"),
    [
        ("none", False, LOOPBACK),
        ("none", True, LOOPBACK),
        ("starttls", True, "localhost"),
        ("implicit", True, LOOPBACK),
    ],
    ids=["plain", "plain-auth-loopback", "starttls-auth", "implicit-auth"],
)
def test_sink_subprocess_receives_probe(
    tls: str, auth: bool, host: str, tmp_path: Path, sink_process: type[SinkProcess]
) -> None:
    port = free_port()
    maildir, ca_out = tmp_path / "maildir", tmp_path / "sink-ca.pem"
    args = ["--listen", f"{LOOPBACK}:{port}", "--tls", tls, "--maildir", str(maildir)]
    args += ["--ca-out", str(ca_out)]
    env = {k: v for k, v in os.environ.items() if k != "DEMO_SMTP_PASSWORD"}
    if auth:
        args += ["--user", "demo:DEMO_SMTP_PASSWORD", "--require-auth"]
        env["DEMO_SMTP_PASSWORD"] = PASSWORD
    sink = sink_process(args, env)
    banner = sink.expect("listening on")
    assert f"127.0.0.1:{port}" in banner
    assert PASSWORD not in " ".join(sink.proc.args)  # type: ignore[arg-type]

    ca_file = str(ca_out) if tls != "none" else None
    if tls != "none":
        assert ca_out.is_file() and f"ca={ca_out}" in banner
    result = run_probe(
        settings(port, tls, user="demo" if auth else None, host=host), PASSWORD, ca_file
    )
    assert result.passed, result
    assert result.sent

    summary = sink.expect(f"probe={result.probe_id}")
    assert "from=notify@example.test" in summary
    assert "to=probe@example.test" in summary
    assert f'subject="mailctl probe org/acme {result.probe_id}"' in summary
    assert f"auth={'demo' if auth else '-'}" in summary

    box = mailbox.Maildir(str(maildir), create=False)
    messages = list(box)
    assert len(messages) == 1
    assert messages[0]["X-Mailctl-Probe"] == result.probe_id
    assert messages[0]["Subject"] == f"mailctl probe org/acme {result.probe_id}"

    assert sink.stop() == 0
    assert PASSWORD not in sink.stderr


def test_sink_subprocess_requires_password_from_env(
    tmp_path: Path, sink_process: type[SinkProcess]
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NOT_SET_ANYWHERE"}
    sink = sink_process(
        ["--listen", f"{LOOPBACK}:{free_port()}", "--user", "demo:NOT_SET_ANYWHERE"], env
    )
    assert sink.proc.wait(timeout=10) == 1
    sink.stop()
    assert "NOT_SET_ANYWHERE" in sink.stderr


def test_in_process_sink_enforces_auth(tmp_path: Path) -> None:
    out = io.StringIO()
    config = SinkConfig(
        port=free_port(),
        tls="starttls",
        ca_out=str(tmp_path / "ca.pem"),
        users=(SinkUser("demo", PASSWORD),),
        require_auth=True,
        maildir=str(tmp_path / "md"),
    )
    with Sink(config, out=out) as sink:
        assert sink.ca_file is not None
        no_auth = run_probe(settings(sink.port, "starttls", user=None), None, sink.ca_file)
        wrong = run_probe(settings(sink.port, "starttls", user="demo"), "nope", sink.ca_file)
        untrusted = run_probe(settings(sink.port, "starttls", user="demo"), PASSWORD, None)
        good = run_probe(settings(sink.port, "starttls", user="demo"), PASSWORD, sink.ca_file)
        assert sink.received == 1
    assert (no_auth.failure_class, no_auth.stage, no_auth.code) == (
        "auth_required",
        "mail_from",
        530,
    )
    assert no_auth.hint is not None and "smtp.auth" in no_auth.hint
    assert (wrong.failure_class, wrong.code) == ("auth_rejected", 535)
    assert (untrusted.failure_class, untrusted.stage) == ("tls_certificate", "starttls")
    assert good.passed
    assert out.getvalue().count("received from=") == 1


def test_sink_config_errors() -> None:
    assert parse_listen("[::1]:2525") == ("::1", 2525)
    with pytest.raises(ListenError):
        parse_listen("2525")
    with pytest.raises(SinkError):
        parse_user("demo", {})
    assert parse_user("demo:X", {"X": "pw"}) == SinkUser("demo", "pw")
    with pytest.raises(SinkError, match="require-auth"):
        Sink(SinkConfig(require_auth=True))
    with pytest.raises(SinkError, match="non-loopback"):
        Sink(SinkConfig(host="0.0.0.0", users=(SinkUser("a", "b"),)))
