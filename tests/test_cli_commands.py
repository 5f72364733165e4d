"""Every command as a real process: exit codes, one-line errors, no tracebacks, no secrets."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import manifests
from tests.fixtures_cli import Mailctl
from tests.fixtures_repo import ConfigRepo
from tests.fixtures_smtp import Pki, RunningServer, ServerSpec

SECRET = "Tr0ub4dor-and-3-more-words"


Cli = Mailctl  # mailctl as a real process in the test repository


@pytest.fixture
def server(smtp_server: Callable[[ServerSpec], RunningServer]) -> RunningServer:
    return smtp_server(ServerSpec(tls="starttls", users={"demo": SECRET}))


@pytest.fixture
def cli(repo: ConfigRepo, tmp_path: Path, pki: Pki, server: RunningServer) -> Cli:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILCTL_", "NO_COLOR"))}
    env.update(
        MAILCTL_STORE=str(tmp_path / "mailctl.db"),
        MAILCTL_CA_FILE=pki.ca_file,
        TEST_SMTP_PASSWORD=SECRET,
        MAILCTL_ACTOR="tester",
    )
    repo.write("host.yaml", manifests.host(port=server.port, user="demo"))
    repo.write("orgs/globex.yaml", manifests.org("globex", "custom", port=server.port))
    repo.commit("point at the test server")
    return Cli(repo, tmp_path / "mailctl.db", env)


def test_exit_codes_of_every_command(cli: Cli, repo: ConfigRepo, server: RunningServer) -> None:
    cli("status", expect=1)  # no store yet: one line, exit 1
    cli("plan", "--detailed-exitcode", expect=2)
    cli("plan", expect=0)
    applied = cli("apply", "--format", "json", expect=0)
    payload = json.loads(applied.stdout)
    assert payload["format_version"] == "1.0" and payload["summary"]["create"] == 4
    assert all(p["status"] == "passed" for p in payload["probes"])
    cli("plan", "--detailed-exitcode", expect=0)
    cli("apply", expect=0)  # nothing to do
    status = json.loads(cli("status", "--format", "json", expect=0).stdout)
    assert {s["scope"] for s in status["scopes"]} == {
        "host",
        "org/acme",
        "org/globex",
        "org/umbrella",
    }
    assert all(s["probe"]["status"] == "passed" for s in status["scopes"])
    assert all(s["conditions"]["Ready"]["status"] == "True" for s in status["scopes"])
    cli("effective", "org/acme", expect=0)
    eff = json.loads(cli("effective", "org/acme", "--format", "json", expect=0).stdout)
    assert eff["sources"]["smtp.host"] == "host" and eff["settings"]["smtp.port"] == server.port
    cli("effective", "org/nope", expect=1)
    cli("probe", expect=0)
    cli("probe", "org/acme", "--format", "json", expect=0)
    cli("probe", "org/nope", expect=1)
    cli("history", expect=0)
    history = json.loads(cli("history", "--format", "json", expect=0).stdout)
    first = history["entries"][-1]["id"]
    cli("rollback", "--to", str(first), expect=1)  # not suspended
    suspended = json.loads(
        cli("suspend", "--reason", "maintenance", "--format", "json", expect=0).stdout
    )
    assert suspended == {
        "format_version": "1.0",
        "suspended": True,
        "reason": "maintenance",
        "at": suspended["at"],
        "by": "tester",
    }
    cli("apply", expect=1)  # refused while suspended
    cli("rollback", "--to", str(first), expect=0)
    cli("rollback", "--to", "999", expect=1)
    assert "maintenance" in cli("status", expect=0).stdout
    resumed = json.loads(cli("resume", "--format", "json", expect=0).stdout)
    assert resumed["suspended"] is False and resumed["by"] == "tester"
    cli("diff", "--base", "HEAD~1", "--detailed-exitcode", expect=2)
    cli("diff", "--base", "HEAD", "--detailed-exitcode", expect=0)
    cli("diff", "--base", "no-such-rev", expect=1)
    cli("plan", "--format", "markdown", expect=0)
    cli("apply", "--bogus-option", expect=1)  # usage errors are 1, never 2
    # a failing probe: apply succeeds, exit 3; status turns not-ready (3)
    repo.write("orgs/globex.yaml", manifests.org("globex", "custom", port=1, timeout_ms=1000))
    cli("apply", expect=3)
    cli("status", expect=3)
    cli("probe", "org/globex", expect=3)
    # a broken org file: held, exit 3; the set-wide error (no host): exit 1
    repo.write("orgs/acme.yaml", "kind: [\n")
    cli("apply", expect=3)
    repo.remove("host.yaml")
    cli("apply", expect=1)
    cli("plan", expect=1)


def test_errors_are_one_line(cli: Cli, tmp_path: Path) -> None:
    proc = cli("plan", "--configs", str(tmp_path / "missing"), expect=1)
    assert proc.stderr.startswith("mailctl: error: ")
    assert len([line for line in proc.stderr.splitlines() if not line.startswith("  hint:")]) == 1
    bad_store = tmp_path / "bad.db"
    bad_store.write_bytes(b"this is not a database" * 100)
    proc = cli("status", "--store", str(bad_store), expect=1)
    assert "mailctl: error: store:" in proc.stderr


def test_locked_store_gives_a_clear_error(cli: Cli) -> None:
    cli("apply", "--probe", "off", expect=0)
    conn = sqlite3.connect(cli.store, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        cli.repo.write("orgs/new.yaml", manifests.org("new"))
        proc = cli("apply", "--probe", "off", "--lock-timeout", "0.5", expect=1)
        assert "lock" in proc.stderr and "hint:" in proc.stderr
    finally:
        conn.execute("ROLLBACK")
        conn.close()
    cli("apply", "--probe", "off", expect=0)


def test_no_secret_in_any_output_or_store_byte(cli: Cli, repo: ConfigRepo) -> None:
    cli("apply", expect=0)
    for fmt in ("text", "json"):
        cli("plan", "--format", fmt)
        cli("status", "--format", fmt)
        cli("probe", "--format", fmt)
        cli("history", "--format", fmt)
    cli("plan", "--format", "markdown")
    cli("effective", "host", "--format", "json")
    cli("diff", "--base", "HEAD")
    # rotation: shown as sensitive, never as the value
    cli.env["TEST_SMTP_PASSWORD"] = SECRET + "-rotated"
    plan = cli("plan").stdout
    assert "(sensitive value changed)" in plan
    cli("apply", "--probe", "gate")
    encoded = {
        SECRET,
        base64.b64encode(SECRET.encode()).decode(),
        base64.b64encode(f"\0demo\0{SECRET}".encode()).decode(),
    }
    everything = "\n".join(cli.outputs)
    for needle in encoded:
        assert needle not in everything
    for path in cli.store.parent.glob("mailctl.db*"):
        data = path.read_bytes()
        for needle in encoded:
            assert needle.encode() not in data, path


def test_apply_log_format_json_emits_events(cli: Cli, repo: ConfigRepo) -> None:
    repo.write("orgs/acme.yaml", "kind: [\n")
    proc = cli("apply", "--log-format", "json", expect=3)
    events = [json.loads(line) for line in proc.stderr.splitlines()]
    names = [e["event"] for e in events]
    assert "manifests.invalid" in names and "scope.applied" in names
    assert "probe.passed" in names
    invalid = next(e for e in events if e["event"] == "manifests.invalid")
    assert invalid["location"].endswith("acme.yaml:2:1") and invalid["rule"] == "yaml.syntax"
    assert SECRET not in proc.stderr
