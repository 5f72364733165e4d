"""OrchestratorTarget against the contract server (tests/orchestrator_server.py, a stand-in
built from UiPath's public API docs), with ``mailctl apply`` as a real process."""

from __future__ import annotations

from reconciler.targets.orchestrator import KEY_PASSWORD, VALUE_KEYS
from tests.fixtures_targets import (
    GLOBEX_PASSWORD,
    HOST_PASSWORD,
    PARTS,
    TargetRig,
    host_yaml,
)

ALL_KEYS = sorted([*VALUE_KEYS, KEY_PASSWORD])


def test_first_apply_writes_exactly_the_mapped_keys_to_the_right_partitions(rig: TargetRig) -> None:
    out = rig.apply()
    puts = rig.puts()
    assert sorted(puts) == sorted(PARTS.values())
    for keys in puts.values():
        assert sorted(keys) == ALL_KEYS  # every mapped key once, the password included
    held = rig.server.settings
    assert held[PARTS["host"]] == {
        "Email.Smtp.Host": "smtp.provider.example",
        "Email.Smtp.Port": "587",
        "Email.Smtp.Domain": "",
        "Email.Smtp.EnableSsl": "true",
        "Email.Smtp.UseDefaultCredentials": "false",
        "Email.Smtp.UserName": "notify@provider.example",
        "Email.Smtp.Password": HOST_PASSWORD,
        "Email.Smtp.FromEmail": "notify@provider.example",
        "Email.Smtp.FromDisplayName": "Platform Notifications",
    }
    assert held[PARTS["org/acme"]] == held[PARTS["host"]]  # inherits the host
    globex = held[PARTS["org/globex"]]
    assert globex["Email.Smtp.Host"] == "smtp.globex.example"
    assert globex["Email.Smtp.Port"] == "465"
    assert globex["Email.Smtp.Domain"] == "globex.example"
    assert globex["Email.Smtp.Password"] == GLOBEX_PASSWORD
    assert len(rig.server.token_requests()) == 1  # one token for the whole run
    report = out["targets"]["targets"][0]
    assert report["target"] == "prod" and report["failed"] == []
    code, status = rig.status()
    assert code == 0
    for scope in status["scopes"]:
        assert scope["conditions"]["Synced/prod"]["status"] == "True", scope
        assert scope["conditions"]["Ready"]["status"] == "True"
    assert status["targets"]["prod"]["synced"] == 4


def test_second_apply_writes_nothing(rig: TargetRig) -> None:
    rig.apply()
    rig.server.clear()
    rig.apply()
    assert rig.server.api_requests("PUT") == []
    gets = rig.server.api_requests("GET")  # the drift check reads, never writes
    assert sorted(str(r.partition) for r in gets) == sorted(PARTS.values())
    assert all(KEY_PASSWORD not in r.keys for r in gets)


def test_host_change_writes_only_the_inheriting_orgs(rig: TargetRig) -> None:
    rig.apply()
    rig.server.clear()
    rig.repo.write("host.yaml", host_yaml(port=2587))
    rig.apply()
    assert rig.puts() == {
        PARTS["host"]: ["Email.Smtp.Port"],
        PARTS["org/acme"]: ["Email.Smtp.Port"],
        PARTS["org/umbrella"]: ["Email.Smtp.Port"],
    }
    assert rig.server.settings[PARTS["org/acme"]]["Email.Smtp.Port"] == "2587"


def test_password_rotation_writes_the_password_only_for_scopes_using_it(rig: TargetRig) -> None:
    rig.apply()
    rig.server.clear()
    rig.env["HOST_SMTP_PASSWORD"] = "host-Rotated.Canary~77aa"
    rig.apply()
    assert rig.puts() == {
        PARTS["host"]: [KEY_PASSWORD],
        PARTS["org/acme"]: [KEY_PASSWORD],
        PARTS["org/umbrella"]: [KEY_PASSWORD],
    }
    assert rig.server.settings[PARTS["org/umbrella"]][KEY_PASSWORD] == "host-Rotated.Canary~77aa"
    assert rig.server.settings[PARTS["org/globex"]][KEY_PASSWORD] == GLOBEX_PASSWORD


def test_a_value_changed_on_the_server_is_detected_and_corrected(rig: TargetRig) -> None:
    rig.apply()
    rig.server.tamper(PARTS["org/acme"], "Email.Smtp.Host", "smtp.attacker.example")
    rig.server.tamper(PARTS["org/globex"], "Email.Smtp.EnableSsl", "false")
    rig.server.clear()
    out = rig.apply()
    assert rig.puts() == {
        PARTS["org/acme"]: ["Email.Smtp.Host"],
        PARTS["org/globex"]: ["Email.Smtp.EnableSsl"],
    }
    assert rig.server.settings[PARTS["org/acme"]]["Email.Smtp.Host"] == "smtp.provider.example"
    drift = out["targets"]["targets"][0]["drift"]
    assert drift == {"org/acme": ["Email.Smtp.Host"], "org/globex": ["Email.Smtp.EnableSsl"]}


def test_plan_lists_the_pending_syncs_without_calling_the_target(rig: TargetRig) -> None:
    rig.apply()
    rig.server.clear()
    rig.repo.write("host.yaml", host_yaml(port=2587))
    rig.env["GLOBEX_SMTP_PASSWORD"] = "globex-Rotated.Canary~9"
    plan = rig.run("plan", "--format", "json", expect=0)
    import json

    pending = {p["scope"]: p for p in json.loads(plan.stdout)["pending_syncs"]}
    assert sorted(pending) == ["host", "org/acme", "org/globex", "org/umbrella"]
    assert pending["org/acme"]["keys"] == ["Email.Smtp.Port"]
    assert pending["org/acme"]["secret"] is False
    assert pending["org/globex"] == {
        "target": "prod",
        "scope": "org/globex",
        "keys": [],
        "secret": True,
        "reason": "changed",
    }
    text = rig.run("plan", expect=0).stdout
    assert "Targets: 4 syncs pending." in text
    assert rig.server.requests == []  # plan never talks to a target
