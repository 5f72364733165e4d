"""Fixtures for target tests: a config repository with an Orchestrator target, the contract
server (:mod:`tests.orchestrator_server`) and ``mailctl`` as a real process."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_cli import Mailctl
from tests.fixtures_repo import GIT_ENV, ConfigRepo
from tests.orchestrator_server import CLIENT_ID, CLIENT_SECRET, OrchestratorServer, serve

HOST_PASSWORD = "host-Pass.Canary~4f9a1"
GLOBEX_PASSWORD = "globex-Pass.Canary~8b2c3"
PARTS = {
    "host": "p-host-0001",
    "org/acme": "p-acme-0002",
    "org/umbrella": "p-umbrella-0003",
    "org/globex": "p-globex-0004",
}


def host_yaml(port: int = 587, host: str = "smtp.provider.example") -> str:
    return f"""apiVersion: mailctl/v1
kind: HostMailSettings
spec:
  mode: custom
  smtp:
    host: {host}
    port: {port}
    auth:
      username: notify@provider.example
      password: {{env: HOST_SMTP_PASSWORD}}
  from:
    address: notify@provider.example
    displayName: Platform Notifications
"""


def org_yaml(name: str, custom: bool = False, target: str = "prod") -> str:
    head = f"""apiVersion: mailctl/v1
kind: OrgMailSettings
metadata:
  name: {name}
  targetIds: {{{target}: {PARTS["org/" + name]}}}
spec:
"""
    if not custom:
        return head + "  mode: default\n"
    upper = name.upper()
    return (
        head
        + f"""  mode: custom
  smtp:
    host: smtp.{name}.example
    port: 465
    tls: implicit
    domain: {name}.example
    auth:
      username: mailer@{name}.example
      password: {{env: {upper}_SMTP_PASSWORD}}
  from:
    address: mailer@{name}.example
"""
    )


def target_yaml(url: str, **extra: Any) -> str:
    lines = [
        "apiVersion: mailctl/v1",
        "kind: OrchestratorTarget",
        "metadata: {name: prod}",
        "spec:",
        f"  url: {url}",
        f"  clientId: {CLIENT_ID}",
        "  clientSecret: {env: ORCH_CLIENT_SECRET}",
        f"  hostPartitionGlobalId: {PARTS['host']}",
    ]
    lines += [f"  {k}: {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


@dataclass
class TargetRig:
    repo: ConfigRepo
    server: OrchestratorServer
    store: Path
    env: dict[str, str]
    outputs: list[str] = field(default_factory=list)

    def run(self, *args: str, expect: int | None = None) -> subprocess.CompletedProcess[str]:
        mailctl = Mailctl(self.repo, self.store, self.env, self.outputs, timeout=120)
        return mailctl(*args, expect=expect)

    def apply(self, expect: int | None = 0) -> dict[str, Any]:
        proc = self.run(
            "apply", "--probe", "off", "--format", "json", "--log-format", "json", expect=expect
        )
        payload: dict[str, Any] = json.loads(proc.stdout)
        return payload

    def status(self) -> tuple[int, dict[str, Any]]:
        proc = self.run("status", "--format", "json")
        return proc.returncode, json.loads(proc.stdout)

    def puts(self) -> dict[str, list[str]]:
        """partition -> keys written, for the PUTs since the last ``server.clear()``."""
        out: dict[str, list[str]] = {}
        for r in self.server.api_requests("PUT"):
            out.setdefault(str(r.partition), []).extend(r.keys)
        return out


@pytest.fixture
def orchestrator() -> Iterator[OrchestratorServer]:
    yield from serve(OrchestratorServer())


@pytest.fixture
def rig(tmp_path: Path, orchestrator: OrchestratorServer) -> TargetRig:
    repo = ConfigRepo(tmp_path / "repo")
    repo.root.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILCTL_", "NO_COLOR"))}
    env.update(GIT_ENV)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo.root, check=True, env=env)
    repo.write("host.yaml", host_yaml())
    repo.write("orgs/acme.yaml", org_yaml("acme"))
    repo.write("orgs/umbrella.yaml", org_yaml("umbrella"))
    repo.write("orgs/globex.yaml", org_yaml("globex", custom=True))
    repo.write("targets/prod.yaml", target_yaml(orchestrator.url))
    (tmp_path / "state").mkdir()
    env.update(
        MAILCTL_STORE=str(tmp_path / "state" / "mailctl.db"),
        MAILCTL_CONFIGS="configs",
        MAILCTL_ACTOR="tester",
        HOST_SMTP_PASSWORD=HOST_PASSWORD,
        GLOBEX_SMTP_PASSWORD=GLOBEX_PASSWORD,
        ORCH_CLIENT_SECRET=CLIENT_SECRET,
    )
    return TargetRig(repo, orchestrator, tmp_path / "state" / "mailctl.db", env)


HOOK_SECRET = "hook-Shared.Key~Canary-55e1"


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """The consumer's check, as docs/targets.md shows it."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)


@dataclass
class Receiver:
    port: int = 0
    documents: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/mailctl"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            ok = verify(HOOK_SECRET, body, self.headers.get("X-Mailctl-Signature"))
            with state.lock:
                if ok:
                    state.documents.append(json.loads(body))
                else:
                    state.rejected += 1
            self.send_response(204 if ok else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def hooked(rig: TargetRig, receiver: Receiver) -> TargetRig:
    rig.repo.remove("targets/prod.yaml")
    rig.repo.write(
        "targets/hook.yaml",
        "apiVersion: mailctl/v1\nkind: WebhookTarget\nmetadata: {name: hook}\n"
        f"spec:\n  url: {receiver.url}\n  secret: {{env: HOOK_SECRET}}\n",
    )
    rig.env["HOOK_SECRET"] = HOOK_SECRET
    return rig
