"""Fixtures for target tests: a config repository with an Orchestrator target, the contract
server (:mod:`tests.orchestrator_server`) and ``mailctl`` as a real process."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
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
