"""A pruned org (its manifest removed) in the targets: Orchestrator's partition gets what the
org inherits again (the host's settings), or is left as it is when the platform defaults are
in effect; a webhook receives one signed ``deleted`` document. The partition comes from the
sync state (the org's manifest, and with it its targetIds, is gone). ``mailctl`` as a real
process against the contract server and a real receiver."""

from __future__ import annotations

import json

from reconciler.targets.orchestrator import KEY_PASSWORD, VALUE_KEYS
from tests.fixtures_targets import GLOBEX_PASSWORD, HOST_PASSWORD, PARTS, Receiver, TargetRig

HOST_DEFAULT = "apiVersion: mailctl/v1\nkind: HostMailSettings\nspec:\n  mode: default\n"


def test_a_pruned_org_partition_gets_the_host_settings_once(rig: TargetRig) -> None:
    rig.apply()
    host = dict(rig.server.settings[PARTS["host"]])
    globex = dict(rig.server.settings[PARTS["org/globex"]])
    rig.server.clear()
    rig.repo.remove("orgs/globex.yaml")
    plan = json.loads(rig.run("plan", "--format", "json", "--detailed-exitcode", expect=2).stdout)
    assert [(p["scope"], p["reason"]) for p in plan["pending_syncs"]] == [("org/globex", "removed")]
    assert rig.server.requests == []
    out = rig.apply()
    report = out["targets"]["targets"][0]
    assert report["removed"] == ["org/globex"] and report["failed"] == []
    puts = rig.puts()
    assert list(puts) == [PARTS["org/globex"]]  # only the pruned org's partition
    # what differed from the org's own settings, and the host's password (another secret)
    differ = [k for k in VALUE_KEYS if globex[k] != host[k]]
    assert "Email.Smtp.Host" in differ and "Email.Smtp.EnableSsl" not in differ
    assert sorted(puts[PARTS["org/globex"]]) == sorted([*differ, KEY_PASSWORD])
    assert rig.server.settings[PARTS["org/globex"]] == host
    assert rig.server.settings[PARTS["org/globex"]][KEY_PASSWORD] == HOST_PASSWORD
    # told once: the sync state is forgotten, nothing more is written or pending
    rig.server.clear()
    rig.apply()
    assert rig.server.api_requests("PUT") == []
    rig.run("plan", "--detailed-exitcode", expect=0)
    code, status = rig.status()
    assert code == 0 and status["targets"]["prod"]["synced"] == 3
    logs = "\n".join(rig.outputs)
    assert HOST_PASSWORD not in logs and GLOBEX_PASSWORD not in logs


def test_a_pruned_org_that_already_inherited_needs_no_write(rig: TargetRig) -> None:
    rig.apply()
    rig.server.clear()
    rig.repo.remove("orgs/acme.yaml")  # mode: default: it held the host's settings already
    out = rig.apply()
    assert out["targets"]["targets"][0]["removed"] == ["org/acme"]
    assert rig.server.api_requests("PUT") == []


def test_with_platform_defaults_a_pruned_org_partition_is_left_alone(rig: TargetRig) -> None:
    rig.repo.write("host.yaml", HOST_DEFAULT)
    rig.env["MAILCTL_PLATFORM_SMTP_PASSWORD"] = "platform-Pass.Canary~31"
    out = rig.apply()
    assert out["targets"]["targets"][0]["skipped"] == 3  # host, acme, umbrella
    globex = dict(rig.server.settings[PARTS["org/globex"]])
    rig.server.clear()
    rig.repo.remove("orgs/globex.yaml")
    out = rig.apply()
    assert out["targets"]["targets"][0]["removed"] == ["org/globex"]
    assert rig.server.api_requests("PUT") == []  # Orchestrator keeps what it has
    assert rig.server.settings[PARTS["org/globex"]] == globex
    rig.run("plan", "--detailed-exitcode", expect=0)  # forgotten: nothing pending


def test_a_failed_hand_back_is_retried_with_the_remembered_partition(rig: TargetRig) -> None:
    rig.apply()
    rig.server.fail("PUT", 503, times=1000)
    rig.repo.remove("orgs/globex.yaml")
    out = rig.apply(expect=3)  # pruned in the store; the target refused
    failed = out["targets"]["targets"][0]["failed"]
    assert [(f["scope"], f["reason"]) for f in failed] == [("org/globex", "Unavailable")]
    rig.run("plan", "--detailed-exitcode", expect=2)  # still pending
    # status lists the removed org as not Ready until its partition is told, and exits 3
    code, status = rig.status()
    row = {sc["scope"]: sc for sc in status["scopes"]}["org/globex"]
    assert code == 3 and row["removed"] is True and row["applied"] is False
    ready, synced = row["conditions"]["Ready"], row["conditions"]["Synced/prod"]
    assert (ready["status"], ready["reason"]) == ("False", "RemovalNotSynced")
    assert (synced["status"], synced["reason"]) == ("False", "Unavailable")
    text = rig.run("status", expect=3).stdout
    assert "org/globex: removed, a target still waits for its hand-back: target prod" in text
    assert "3/3 scopes ready. 1 removed scope not yet handed back." in text
    rig.server.faults.clear()
    rig.server.clear()
    out = rig.apply()
    assert out["targets"]["targets"][0]["removed"] == ["org/globex"]
    assert list(rig.puts()) == [PARTS["org/globex"]]
    assert rig.server.settings[PARTS["org/globex"]]["Email.Smtp.Host"] == "smtp.provider.example"
    rig.run("plan", "--detailed-exitcode", expect=0)
    code, status = rig.status()  # told: the row is gone
    assert code == 0 and "org/globex" not in {sc["scope"] for sc in status["scopes"]}


def test_a_webhook_receives_one_signed_deleted_document(
    hooked: TargetRig, receiver: Receiver
) -> None:
    hooked.apply()
    receiver.documents.clear()
    hooked.repo.remove("orgs/globex.yaml")
    out = hooked.apply()
    assert out["targets"]["targets"][0]["removed"] == ["org/globex"]
    assert receiver.rejected == 0  # signed with the shared key, like every document
    assert len(receiver.documents) == 1
    doc = receiver.documents[0]
    assert doc == {
        "format_version": "1.0",
        "scope": "org/globex",
        "revision": doc["revision"],
        "deleted": True,
    }
    assert doc["revision"]
    receiver.documents.clear()
    hooked.apply()
    assert receiver.documents == []  # once
