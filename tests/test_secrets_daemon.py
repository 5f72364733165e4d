"""The real daemon with a FIFO and an out-of-root secret: ready anyway, only those held."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.store import ScopeRecord
from tests import manifests
from tests.fixtures_daemon import DaemonProc, SinkProc, custom_org, wait_for, write_configs


def test_daemon_gets_ready_with_a_fifo_secret_and_holds_only_that_org(
    tmp_path: Path,
    sink: SinkProc,
    start_daemon: Callable[..., DaemonProc],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    creds = tmp_path / "credentials"
    (creds / "orgs" / "piped").mkdir(parents=True)
    fifo = creds / "orgs" / "piped" / "smtp"
    os.mkfifo(fifo)  # nobody ever writes to it
    # The daemon's default root (systemd LoadCredential=), passed through its environment.
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    configs = write_configs(tmp_path, sink.port)
    piped = custom_org("piped", sink.port, auth=True)
    piped = piped.replace(f"{{env: {manifests.org_secret_env('piped')}}}", f"{{file: {fifo}}}")
    (configs / "orgs" / "piped.yaml").write_text(piped)
    d = start_daemon(configs)  # waits for /readyz 200: the FIFO never blocks the first run
    probed = ("host", "org/initech", "org/globex")
    # Probes run after the commit; their results are stored as they complete.

    def stored() -> dict[str, ScopeRecord] | None:
        r = d.scopes()
        return r if all(s in r and r[s].probe for s in probed) else None

    records = wait_for("probe results stored", stored, timeout=10)
    assert {"host", "org/acme", "org/globex", "org/initech", "org/umbrella"} <= set(records)
    for scope in probed:
        probe = records[scope].probe
        assert probe is not None and probe["status"] == "passed", scope
    status = d.mailctl("status", "--store", str(d.store), "--format", "json")
    assert status.returncode == 3, status.stderr  # a scope is held: not Ready
    (piped_status,) = [s for s in json.loads(status.stdout)["scopes"] if s["scope"] == "org/piped"]
    ready = piped_status["conditions"]["Ready"]
    assert ready["status"] == "False"
    assert "FIFO" in json.dumps(piped_status)
    assert d.get("/healthz")[0] == 200


def test_daemon_holds_an_org_once_a_longer_org_prefix_appears_and_frees_it_when_gone(
    tmp_path: Path,
    sink: SinkProc,
    start_daemon: Callable[..., DaemonProc],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``corp`` uses ``CORP_EU_SMTP_PASSWORD`` (its prefix ``CORP_``): fine until an org
    ``corp-eu`` appears, which owns ``CORP_EU_*``. The daemon's incremental run for the
    new file re-evaluates ``corp`` too (no resync needed) and holds it; deleting
    ``corp-eu.yaml`` gives the variable back."""
    monkeypatch.setenv("CORP_EU_SMTP_PASSWORD", sink.secret)  # passed to the daemon
    configs = write_configs(tmp_path, sink.port)
    corp = custom_org("corp", sink.port, auth=True)
    corp = corp.replace(
        f"{{env: {manifests.org_secret_env('corp')}}}", "{env: CORP_EU_SMTP_PASSWORD}"
    )
    (configs / "orgs" / "corp.yaml").write_text(corp)
    d = start_daemon(configs, interval="1h")

    def corp_state() -> tuple[bool, str] | None:
        rec = d.scopes().get("org/corp")
        if rec is None:
            return None
        stalled = rec.conditions.get("Stalled", {})
        return stalled.get("status") == "True", stalled.get("reason", "")

    def free() -> bool:
        state = corp_state()
        return state is not None and not state[0]

    wait_for("corp applied", free, timeout=10)
    eu = custom_org("corp-eu", sink.port, auth=True)  # its own CORP_EU_SMTP_PASSWORD
    (configs / "orgs" / "corp-eu.yaml").write_text(eu)
    wait_for(
        "corp held for corp-eu's variable",
        lambda: corp_state() == (True, "SecretUnresolved") or None,
        timeout=10,
    )
    records = d.scopes()
    assert "org/corp-eu" in records
    message = records["org/corp"].conditions["Stalled"]["message"]
    assert "belongs to organization corp-eu" in message
    assert all(e.get("kind") != "full" for e in d.events("reconcile.finished")[1:])
    (configs / "orgs" / "corp-eu.yaml").unlink()
    wait_for("corp free again", free, timeout=10)
    assert "org/corp-eu" not in d.scopes()
    assert sink.secret not in d.output()
