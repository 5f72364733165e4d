"""The real daemon process holds what it must not prune and shows what it holds
(DESIGN §9): an org file renamed while broken, and a new org that was never applied."""

from __future__ import annotations

import json
import signal
import time

from reconciler import conditions as cond
from tests.fixtures_daemon import DaemonProc, SinkProc, atomic_write, custom_org, wait_for

BROKEN = "apiVersion: mailctl/v1\nkind: OrgMailSettings\nmetadata: [\n"


def _status(d: DaemonProc) -> dict[str, object]:
    code, body = d.get("/status")
    assert code == 200
    payload: dict[str, object] = json.loads(body)
    return payload


def test_daemon_holds_an_org_renamed_while_broken_and_never_prunes_it(
    sink: SinkProc, default_daemon: DaemonProc
) -> None:
    d = default_daemon
    orgs = d.configs / "orgs"
    before = d.scopes()["org/globex"]
    assert before.source_file is not None and before.source_file.endswith("globex.yaml")

    # Rename and break in one go, as a careless `git mv` plus a bad edit would.
    (orgs / "globex-renamed.yaml").write_text(BROKEN)
    (orgs / "globex.yaml").unlink()
    d.wait_event(
        "scope.stalled", lambda e: e.get("scope") == "org/globex" and e["reason"] == "PruneBlocked"
    )

    def globex_stalled() -> bool:
        rec = d.scopes().get("org/globex")
        return rec is not None and cond.is_stalled(rec.conditions)

    wait_for("globex Stalled", globex_stalled)
    time.sleep(0.5)  # a later batch must not prune it either
    globex = d.scopes()["org/globex"]
    assert globex.effective == before.effective and globex.spec == before.spec
    assert not [e for e in d.events("scope.pruned") if e.get("scope") == "org/globex"]
    status = d.mailctl("status", "--store", str(d.store), "--format", "json")
    assert status.returncode == 3, status.stderr
    payload = json.loads(status.stdout)
    assert [f["file"] for f in payload["invalidFiles"]] == [str(orgs / "globex-renamed.yaml")]
    served = _status(d)
    assert served["invalidFiles"] == payload["invalidFiles"]

    # A legitimate removal meanwhile waits too ...
    (orgs / "umbrella.yaml").unlink()
    d.wait_event(
        "scope.stalled",
        lambda e: e.get("scope") == "org/umbrella" and e["reason"] == "PruneBlocked",
    )
    assert "org/umbrella" in d.scopes()

    # Fixed under the new name: the same org, Ready again, from the new file; and the
    # removal waiting for it goes through at once (not at the next resync, 10 min away).
    atomic_write(orgs / "globex-renamed.yaml", custom_org("globex", sink.port))
    wait_for("globex Ready", lambda: cond.is_ready(d.scopes()["org/globex"].conditions))
    wait_for("umbrella pruned", lambda: "org/umbrella" not in d.scopes())
    assert str(d.scopes()["org/globex"].source_file).endswith("globex-renamed.yaml")
    wait_for("no invalid files", lambda: _status(d)["invalidFiles"] == [])

    # A new org, broken from its first line on: held, never applied, and visible.
    (orgs / "newco.yaml").write_text(
        "apiVersion: mailctl/v1\nkind: OrgMailSettings\nmetadata:\n  name: newco\n"
        "spec:\n  mode: custom\n"
    )

    def newco_listed() -> dict[str, object] | None:
        scopes = _status(d)["scopes"]
        assert isinstance(scopes, list)
        return next((s for s in scopes if s["scope"] == "org/newco"), None)

    newco = wait_for("org/newco in /status", newco_listed)
    assert newco["applied"] is False
    assert newco["conditions"]["Ready"]["reason"] == "InvalidManifest"  # type: ignore[index]
    assert "org/newco" not in d.scopes()
    text = d.mailctl("status", "--store", str(d.store))
    assert (
        text.returncode == 3 and "org/newco: Held, never applied (InvalidManifest)" in text.stdout
    )
    code, took = d.stop(signal.SIGTERM)
    assert code == 0 and took < 10
