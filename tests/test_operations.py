"""``status`` shows held scopes, also before their first apply; no output claims the store
matches while anything is held; ``plan --detailed-exitcode`` fails on invalid manifests;
``effective`` in effect vs ``--desired`` (DESIGN §9). Real processes, git repo, SQLite,
and an aiosmtpd server that rejects for the gate."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests import manifests
from tests.fixtures_cli import Mailctl
from tests.fixtures_repo import ConfigRepo
from tests.fixtures_smtp import RunningServer, ServerSpec

MATCHES = "The store matches the configuration"
INVALID_NEW = (
    "apiVersion: mailctl/v1\nkind: OrgMailSettings\nmetadata:\n  name: newco\n"
    "spec:\n  mode: custom\n"
)


@pytest.fixture
def rejecting(smtp_server: Callable[[ServerSpec], RunningServer]) -> RunningServer:
    return smtp_server(ServerSpec(mail_replies=["550 5.7.1 sender rejected by policy"] * 50))


def _new_org(case: str, repo: ConfigRepo, server: RunningServer) -> tuple[str, tuple[str, ...]]:
    """Write org/newco broken in the way ``case`` says; returns (reason, apply args)."""
    if case == "invalid":
        repo.write("orgs/newco.yaml", INVALID_NEW)
        return "InvalidManifest", ("--probe", "off")
    if case == "secret":
        repo.write(
            "orgs/newco.yaml",
            manifests.org("newco", "custom", user="mailer", secret_env="NEWCO_SMTP_PASSWORD"),
        )
        return "SecretUnresolved", ("--probe", "off")
    repo.write("orgs/newco.yaml", manifests.org("newco", "custom", port=server.port, tls="none"))
    return "ProbeFailed", ("--probe", "gate", "--ca-file", "/dev/null")


@pytest.mark.parametrize("case", ["invalid", "secret", "gate"])
def test_a_scope_held_before_its_first_apply_is_shown_by_status(
    repo: ConfigRepo, mailctl: Mailctl, rejecting: RunningServer, case: str
) -> None:
    mailctl("apply", "--probe", "off", expect=0)
    reason, args = _new_org(case, repo, rejecting)
    first = mailctl("apply", *args, expect=3).stdout
    assert "org/newco is held and was never applied" in first
    assert MATCHES not in first

    status = mailctl.json("status", expect=3)
    newco = next(s for s in status["scopes"] if s["scope"] == "org/newco")
    assert newco["applied"] is False and newco["lastAppliedRevision"] is None
    assert newco["conditions"]["Ready"]["status"] == "False"
    assert newco["conditions"]["Ready"]["reason"] == reason
    assert newco["conditions"]["Stalled"]["status"] == "True"
    assert newco["source"] == "configs/orgs/newco.yaml"
    text = mailctl("status", expect=3).stdout
    row = next(line for line in text.splitlines() if line.startswith("org/newco "))
    assert row.split()[1:5] == ["-", "False", reason, "never"]
    assert f"org/newco: Held, never applied ({reason}):" in text
    assert "4/5 scopes ready." in text

    # Applying again changes nothing and must not claim the store matches.
    again = mailctl("apply", *args, expect=3).stdout
    assert MATCHES not in again
    assert "1 scope held. The store does not match the configuration." in again
    plan = mailctl("plan", "--detailed-exitcode").stdout
    assert MATCHES not in plan

    # Fixed: applied, and the held row is gone.
    repo.write("orgs/newco.yaml", manifests.org("newco"))
    mailctl("apply", "--probe", "off", expect=0)
    status = mailctl.json("status", expect=0)
    newco = next(s for s in status["scopes"] if s["scope"] == "org/newco")
    assert newco["applied"] is True and newco["conditions"]["Ready"]["status"] == "True"
    assert "5/5 scopes ready." in mailctl("status", expect=0).stdout


def test_gate_hold_of_an_applied_scope_keeps_it_and_says_so(
    repo: ConfigRepo, mailctl: Mailctl, rejecting: RunningServer
) -> None:
    mailctl("apply", "--probe", "off", expect=0)
    repo.write(
        "orgs/globex.yaml", manifests.org("globex", "custom", port=rejecting.port, tls="none")
    )
    out = mailctl("apply", "--probe", "gate", expect=3).stdout
    assert "org/globex is held at its last applied settings (ProbeFailed)" in out
    assert "sender_rejected" in out
    again = mailctl("apply", "--probe", "gate", expect=3).stdout
    assert MATCHES not in again and "does not match" in again
    text = mailctl("status", expect=3).stdout
    assert "org/globex: Stalled (ProbeFailed)" in text

    # effective: in effect the old port, desired the new one, and why they differ.
    eff = mailctl.json("effective", "org/globex", expect=0)
    assert eff["view"] == "applied" and eff["settings"]["smtp.port"] == 2526
    assert eff["inSync"] is False
    assert eff["differs"]["reason"] == "gate_failed"
    assert "sender_rejected" in eff["differs"]["message"]
    assert "smtp.port" in eff["differs"]["fields"]
    want = mailctl.json("effective", "org/globex", "--desired", expect=0)
    assert want["view"] == "desired" and want["settings"]["smtp.port"] == rejecting.port
    assert "gate failed" in mailctl("effective", "org/globex", expect=0).stdout

    # Reverted: the settings match again, but the stall is not cleared until apply.
    repo.write("orgs/globex.yaml", manifests.org("globex", "custom", port=2526))
    plan = mailctl("plan", "--detailed-exitcode", expect=0).stdout
    assert MATCHES not in plan
    assert "Apply clears the Stalled condition of 1 scope: org/globex." in plan
    assert mailctl.json("plan")["recovering"] == ["org/globex"]
    mailctl("apply", "--probe", "off", expect=0)
    assert MATCHES in mailctl("plan", "--detailed-exitcode", expect=0).stdout
    mailctl("status", expect=0)


def test_plan_detailed_exitcode_is_1_with_an_invalid_manifest(
    repo: ConfigRepo, mailctl: Mailctl
) -> None:
    mailctl("apply", "--probe", "off", expect=0)
    repo.write("host.yaml", manifests.host(port=2600))
    mailctl("plan", "--detailed-exitcode", expect=2)
    repo.write("orgs/newco.yaml", INVALID_NEW)
    proc = mailctl("plan", "--detailed-exitcode", expect=1)
    assert "~ host" in proc.stdout and "smtp.port: 2525 -> 2600" in proc.stdout
    assert "Plan: 0 to create, 1 to update, 0 to delete." in proc.stdout
    assert "org/newco is held and was never applied (InvalidManifest)" in proc.stdout
    mailctl("plan", expect=1)
    repo.commit("invalid org")
    mailctl("diff", "--base", "HEAD~1", "--detailed-exitcode", expect=1)
    repo.remove("orgs/newco.yaml")
    mailctl("plan", "--detailed-exitcode", expect=2)


def test_effective_in_effect_versus_desired(repo: ConfigRepo, mailctl: Mailctl) -> None:
    mailctl("effective", "host", expect=1)  # no store: nothing is in effect
    assert mailctl.json("effective", "host", "--desired", expect=0)["settings"]["smtp.port"] == 2525
    mailctl("apply", "--probe", "off", expect=0)
    synced = mailctl.json("effective", "org/acme", expect=0)
    assert synced["inSync"] is True and synced["differs"] is None
    assert synced["sources"]["smtp.port"] == "host"
    assert "In effect as configured." in mailctl("effective", "org/acme", expect=0).stdout

    repo.write("host.yaml", manifests.host(port=2600))  # not applied yet
    for scope in ("host", "org/acme"):
        now = mailctl.json("effective", scope, expect=0)
        assert now["settings"]["smtp.port"] == 2525, scope
        assert now["differs"] == {
            "reason": "pending",
            "message": now["differs"]["message"],
            "fields": ["smtp.port"],
        }
        assert mailctl.json("effective", scope, "--desired")["settings"]["smtp.port"] == 2600
    text = mailctl("effective", "org/acme", expect=0).stdout
    assert "Differs from the configs: pending: the configs differ (smtp.port)" in text

    repo.write("orgs/acme.yaml", "kind: [\n")
    held = mailctl.json("effective", "org/acme", expect=0)
    assert held["settings"]["smtp.port"] == 2525 and held["differs"]["reason"] == "held"
    proc = mailctl("effective", "org/acme", "--desired", expect=1)
    assert "held (InvalidManifest)" in proc.stderr
    assert "unknown scope" in mailctl("effective", "org/nope", expect=1).stderr


def test_a_set_wide_error_keeps_what_is_held(repo: ConfigRepo, mailctl: Mailctl) -> None:
    repo.write("orgs/newco.yaml", INVALID_NEW)
    mailctl("apply", "--probe", "off", expect=3)
    repo.remove("host.yaml")  # now the set as a whole is invalid: nothing is evaluated
    mailctl("apply", "--probe", "off", expect=1)
    status = mailctl.json("status", expect=3)
    newco = next(s for s in status["scopes"] if s["scope"] == "org/newco")
    assert newco["conditions"]["Ready"]["reason"] == "InvalidManifest"
    held = {s["scope"] for s in status["scopes"] if s["conditions"]["Stalled"]["status"] == "True"}
    assert held == {"host", "org/acme", "org/globex", "org/umbrella", "org/newco"}
