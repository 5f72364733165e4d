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
    target_yaml,
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


def test_plan_exits_2_while_a_target_is_behind_the_store(rig: TargetRig) -> None:
    """The store matches the configs, the target does not (never synced, then a failed
    sync): plan lists the pending syncs in every format and --detailed-exitcode exits 2."""
    import json

    rig.apply()
    rig.run("plan", "--detailed-exitcode", expect=0)  # store and target in line
    rig.server.fail("PUT", 503, times=1000)
    rig.repo.write("host.yaml", host_yaml(port=2587))
    out = rig.apply(expect=3)  # committed; the target refused
    assert {f["reason"] for f in out["targets"]["targets"][0]["failed"]} == {"Unavailable"}
    rig.server.faults.clear()
    rig.server.clear()
    plan = json.loads(rig.run("plan", "--format", "json", "--detailed-exitcode", expect=2).stdout)
    assert plan["changes"] == []  # nothing for the store to do...
    pending = {p["scope"]: (p["reason"], p["keys"]) for p in plan["pending_syncs"]}
    port = ("changed", ["Email.Smtp.Port"])  # what the failed sync did not write
    assert pending == {"host": port, "org/acme": port, "org/umbrella": port}
    text = rig.run("plan", "--detailed-exitcode", expect=2).stdout
    assert "Targets: 3 syncs pending." in text
    assert "The store matches the configuration; apply syncs the targets." in text
    md = rig.run("plan", "--format", "markdown", "--detailed-exitcode", expect=2).stdout
    assert "**Targets: 3 syncs pending.**" in md and "`org/acme`" in md
    assert rig.server.requests == []  # plan never talks to a target
    rig.apply()
    rig.run("plan", "--detailed-exitcode", expect=0)


def test_plan_counts_a_scope_no_target_has_seen_yet(rig: TargetRig) -> None:
    """A target added after the settings were applied: every scope is 'new' for it."""
    import json

    rig.repo.remove("targets/prod.yaml")
    rig.apply()
    rig.run("plan", "--detailed-exitcode", expect=0)
    rig.repo.write("targets/prod.yaml", target_yaml(rig.server.url))
    plan = json.loads(rig.run("plan", "--format", "json", "--detailed-exitcode", expect=2).stdout)
    assert plan["changes"] == []
    assert {p["reason"] for p in plan["pending_syncs"]} == {"new"}
    assert len(plan["pending_syncs"]) == 4


def test_effective_shows_the_synced_condition_of_each_target(rig: TargetRig) -> None:
    import json

    rig.apply()
    eff = json.loads(rig.run("effective", "org/acme", "--format", "json").stdout)
    assert eff["conditions"]["Synced/prod"]["status"] == "True"
    assert eff["conditions"]["Synced/prod"]["reason"] == "Synced"
    rig.server.fail("PUT", 403, times=1000)
    rig.repo.write("host.yaml", host_yaml(port=2599))
    rig.apply(expect=3)
    eff = json.loads(rig.run("effective", "org/acme", "--format", "json").stdout)
    assert eff["conditions"]["Synced/prod"] == {
        "status": "False",
        "reason": "Forbidden",
        "message": eff["conditions"]["Synced/prod"]["message"],
    }
    text = rig.run("effective", "org/acme").stdout
    assert "Synced/prod: False (Forbidden)" in text
    desired = json.loads(rig.run("effective", "org/acme", "--desired", "--format", "json").stdout)
    assert desired["conditions"]["Synced/prod"]["status"] == "False"
    assert HOST_PASSWORD not in text and HOST_PASSWORD not in json.dumps(eff)
