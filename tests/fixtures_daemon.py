"""Real processes for the daemon tests: a ``mailctl sink`` and a ``mailctl daemon``.

Both run as subprocesses on free loopback ports with their output in files (no pipe can
fill up and block them). Everything waits by polling with deadlines, never fixed sleeps.
"""

from __future__ import annotations

import mailbox
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bench._common import LOOPBACK, SilentServer, daemon_argv, events, free_port, http_get, stop
from reconciler.store import ScopeRecord, open_store
from tests import manifests

__all__ = ["LOOPBACK", "free_port"]  # imported from here by the tests

T = TypeVar("T")
SECRET_ENV = "INITECH_SMTP_PASSWORD"  # the one org with auth (a tenant-scoped name)
SILENT_HOST = "127.0.0.2"  # its own per-host probe slots, apart from the sink on 127.0.0.1


def wait_for(
    what: str, fn: Callable[[], T | None], timeout: float = 5.0, interval: float = 0.02
) -> T:
    """Poll ``fn`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any ``MAILCTL_`` setting (nor ``NO_COLOR``), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILCTL_")}
    env.update(extra)
    env.pop("NO_COLOR", None)
    return env


# ---------------------------------------------------------------------------- sink


@dataclass
class SinkProc:
    port: int
    ca_file: Path
    maildir: Path
    secret: str
    proc: subprocess.Popen[bytes]

    def subjects(self) -> list[str]:
        if not (self.maildir / "new").is_dir():
            return []
        box = mailbox.Maildir(str(self.maildir), create=False)
        return [str(msg["Subject"]) for msg in box]

    def probes_for(self, scope: str) -> list[str]:
        """Probe ids of messages received for ``scope``."""
        prefix = f"mailctl probe {scope} "
        return [s[len(prefix) :] for s in self.subjects() if s.startswith(prefix)]


@pytest.fixture(scope="module", name="sink")
def sink_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SinkProc]:
    """A real ``mailctl sink`` with STARTTLS (generated CA) and AUTH user ``demo``."""
    root = tmp_path_factory.mktemp("sink")
    port = free_port()
    secret = "pw-" + secrets.token_hex(12)
    ca, maildir = root / "ca.pem", root / "maildir"
    log = (root / "sink.out").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler",
            "sink",
            "--listen",
            f"{LOOPBACK}:{port}",
            "--tls",
            "starttls",
            "--ca-out",
            str(ca),
            "--user",
            f"demo:{SECRET_ENV}",
            "--maildir",
            str(maildir),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=clean_env(**{SECRET_ENV: secret}),
    )
    log.close()  # the child has its own copy

    def listening() -> bool:
        if not ca.exists():
            return False
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.2):
                return True
        except OSError:
            return False

    try:
        wait_for("the sink to listen", listening, timeout=10)
        yield SinkProc(port, ca, maildir, secret, proc)
    finally:
        stop(proc, timeout=10)


@pytest.fixture(name="silent")
def silent_fixture() -> Iterator[SilentServer]:
    """A TCP server on 127.0.0.2 that accepts and never answers: probes to it hang."""
    server = SilentServer(SILENT_HOST)
    yield server
    server.close()


# ---------------------------------------------------------------------------- configs


def host_manifest(port: int) -> str:
    return manifests.host(port=port, probe_to="mail-probe@platform.example")


def default_org(name: str) -> str:
    return manifests.org(name)


def custom_org(name: str, port: int, display: str = "Alerts", auth: bool = False) -> str:
    return manifests.org(
        name,
        "custom",
        port=port,
        display_name=display,
        probe_to=f"probe@{name}.example",
        user="demo" if auth else None,
        secret_env=manifests.org_secret_env(name),
    )


def hanging_org(
    name: str, silent: SilentServer, timeout_ms: int = 20000, display: str | None = None
) -> str:
    """A custom org whose server is ``silent``: its probe hangs for ``timeout_ms``."""
    return manifests.org(
        name,
        "custom",
        host=silent.host,
        port=silent.port,
        timeout_ms=timeout_ms,
        display_name=display or f"Hanging {name}",
        probe_to=f"probe@{name}.example",
    )


def write_configs(root: Path, port: int, orgs: dict[str, str] | None = None) -> Path:
    """host (custom, the sink) and the ``orgs`` manifests by name; by default acme +
    umbrella (default), globex (custom), initech (auth)."""
    if orgs is None:
        orgs = {name: default_org(name) for name in ("acme", "umbrella")}
        orgs["globex"] = custom_org("globex", port)
        orgs["initech"] = custom_org("initech", port, auth=True)
    configs = root / "configs"
    (configs / "orgs").mkdir(parents=True)
    (configs / "host.yaml").write_text(host_manifest(port))
    for name, text in orgs.items():
        (configs / "orgs" / f"{name}.yaml").write_text(text)
    return configs


def atomic_write(path: Path, text: str) -> None:
    """How editors and git write: a temp file renamed over the target."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------- daemon


@dataclass
class DaemonProc:
    proc: subprocess.Popen[bytes]
    port: int
    store: Path
    configs: Path
    out: Path
    err: Path
    env: dict[str, str] = field(repr=False)

    def display_name(self, scope: str) -> str | None:
        """The ``from.displayName`` the store holds for ``scope`` (None: no record)."""
        rec = self.scopes().get(scope)
        return None if rec is None else rec.effective.get("from.displayName")

    def url(self, path: str) -> str:
        return f"http://{LOOPBACK}:{self.port}{path}"

    def get(self, path: str) -> tuple[int, bytes]:
        return http_get(self.url(path))

    def output(self) -> str:
        text = ""
        for path in (self.out, self.err):
            if path.exists():
                text += path.read_text(errors="replace")
        return text

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        return events(self.err, name)

    def wait_event(
        self, name: str, match: Callable[[dict[str, Any]], bool] = lambda e: True, after: int = 0
    ) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            hits = [e for e in self.events(name)[after:] if match(e)]
            return hits[0] if hits else None

        return wait_for(f"event {name}", found, timeout=6)

    def scopes(self) -> dict[str, ScopeRecord]:
        with open_store(self.store, create=False) as st:
            return st.scopes()

    def metric(self, name: str, **labels: str) -> float:
        _, body = self.get("/metrics")
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in body.decode().splitlines():
            if line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            metric, _, rest = key.partition("{")
            got = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
            if metric == name and got == want:
                return float(value)
        return 0.0

    def mailctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "reconciler", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
            check=False,
        )

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> tuple[int, float]:
        """Signal and wait; returns (exit code, seconds it took)."""
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=15)
        return code, time.monotonic() - t0


StartDaemon = Callable[..., DaemonProc]


@pytest.fixture(name="start_daemon")
def start_daemon_fixture(tmp_path: Path, sink: SinkProc) -> Iterator[Callable[..., DaemonProc]]:
    """Factory: ``start_daemon(configs, interval="10m", debounce_ms=50, extra=(...))`` ->
    ready daemon (``extra``: more daemon options).

    Daemons started by one test share the store; ``name`` keeps their output apart."""
    started: list[DaemonProc] = []

    def start(
        configs: Path,
        *,
        interval: str = "10m",
        debounce_ms: int = 50,
        revision: str | None = "test-rev",
        wait_ready: bool = True,
        name: str = "daemon",
        extra: tuple[str, ...] = (),
    ) -> DaemonProc:
        port = free_port()
        store = tmp_path / "mailctl.db"
        out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        env = clean_env(**{SECRET_ENV: sink.secret, "MAILCTL_ACTOR": "test"})
        out_fh, err_fh = out.open("wb"), err.open("wb")
        options = ("--ca-file", str(sink.ca_file), *(["--revision", revision] if revision else []))
        proc = subprocess.Popen(
            daemon_argv(
                configs,
                store,
                port,
                interval=interval,
                debounce_ms=debounce_ms,
                extra=(*options, *extra),
            ),
            stdout=out_fh,
            stderr=err_fh,
            env=env,
            cwd=tmp_path,
        )
        out_fh.close()
        err_fh.close()
        daemon = DaemonProc(proc, port, store, configs, out, err, env)
        started.append(daemon)
        if wait_ready:
            wait_for("/readyz 200", lambda: daemon.get("/readyz")[0] == 200, timeout=15)
        return daemon

    yield start
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()


@pytest.fixture
def default_daemon(tmp_path: Path, sink: SinkProc, start_daemon: StartDaemon) -> DaemonProc:
    """A ready daemon on ``write_configs``' default folder (host and orgs on the sink)."""
    return start_daemon(write_configs(tmp_path, sink.port))
