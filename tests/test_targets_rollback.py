"""``mailctl rollback`` reaches the targets like ``apply``: the rolled-back applied settings
are written (only what changed), a scope the rollback removes is handed back like a pruned
org, and a target failure leaves the rollback committed with exit 3. Real processes, the
contract server."""

from __future__ import annotations

import json

from reconciler.targets.orchestrator import KEY_PASSWORD
from tests.fixtures_targets import HOST_PASSWORD, PARTS, TargetRig, host_yaml, org_yaml


def _first_entry(rig: TargetRig) -> int:
    entries = json.loads(rig.run("history", "--format", "json").stdout)["entries"]
    return int(min(e["id"] for e in entries))


def test_rollback_writes_the_rolled_back_settings_to_the_targets(rig: TargetRig) -> None:
    rig.apply()
    rig.repo.write("host.yaml", host_yaml(port=2587))
    rig.apply()
    assert rig.server.settings[PARTS["org/acme"]]["Email.Smtp.Port"] == "2587"
    rig.server.clear()
    rig.run("suspend", "--reason", "roll back the port", expect=0)
    out = json.loads(rig.run("rollback", "--to", str(_first_entry(rig)), "--format", "json").stdout)
    assert out["targets"]["targets"][0]["failed"] == []
    port = ["Email.Smtp.Port"]
    assert rig.puts() == {PARTS["host"]: port, PARTS["org/acme"]: port, PARTS["org/umbrella"]: port}
    assert rig.server.api_requests("GET") == []  # only what changed, no drift reads
    assert rig.server.settings[PARTS["org/acme"]]["Email.Smtp.Port"] == "587"
    code, status = rig.status()
    assert all(s["conditions"]["Synced/prod"]["status"] == "True" for s in status["scopes"])
    assert code == 0
    text = "\n".join(rig.outputs)
    assert HOST_PASSWORD not in text


def test_rollback_text_names_the_sync_and_a_removed_org_is_handed_back(rig: TargetRig) -> None:
    rig.repo.remove("orgs/globex.yaml")
    rig.apply()
    first = _first_entry(rig)
    rig.repo.write("orgs/globex.yaml", org_yaml("globex", custom=True))
    rig.apply()
    assert rig.server.settings[PARTS["org/globex"]]["Email.Smtp.Host"] == "smtp.globex.example"
    rig.server.clear()
    rig.run("suspend", "--reason", "globex was a mistake", expect=0)
    text = rig.run("rollback", "--to", str(first), expect=0).stdout
    assert "Rolled back to #" in text
    assert "target prod (OrchestratorTarget):" in text and "1 pruned scope handed back" in text
    assert list(rig.puts()) == [PARTS["org/globex"]]
    held = rig.server.settings[PARTS["org/globex"]]
    assert held == rig.server.settings[PARTS["host"]]  # it inherits the host again
    assert held[KEY_PASSWORD] == HOST_PASSWORD


def test_a_target_failure_after_rollback_exits_3_and_shows_not_synced(rig: TargetRig) -> None:
    rig.apply()
    rig.repo.write("host.yaml", host_yaml(port=2587))
    rig.apply()
    rig.run("suspend", "--reason", "roll back", expect=0)
    rig.server.fail("PUT", 403, times=1000)
    out = json.loads(
        rig.run("rollback", "--to", str(_first_entry(rig)), "--format", "json", expect=3).stdout
    )
    assert {f["reason"] for f in out["targets"]["targets"][0]["failed"]} == {"Forbidden"}
    eff = json.loads(rig.run("effective", "host", "--format", "json").stdout)
    assert eff["settings"]["smtp.port"] == 587  # the rollback is committed anyway
    assert eff["conditions"]["Synced/prod"]["status"] == "False"
    rig.run("plan", "--detailed-exitcode", expect=2)  # ... and the sync is pending


def test_rollback_without_the_configs_folder_says_the_targets_were_not_synced(
    rig: TargetRig,
) -> None:
    rig.apply()
    rig.repo.write("host.yaml", host_yaml(port=2587))
    rig.apply()
    rig.run("suspend", "--reason", "roll back", expect=0)
    proc = rig.run("rollback", "--to", str(_first_entry(rig)), "--configs", "no-such-dir", expect=3)
    assert "targets not synced" in proc.stderr and "Rolled back to #" in proc.stdout
