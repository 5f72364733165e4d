"""How the Orchestrator target fails: 401 (one refresh), 403, 429/503 (backoff honouring
Retry-After), timeouts, unmapped orgs and platform defaults; the settings stay applied,
``Synced/<target>`` and ``Ready`` say why, and no secret or token leaks anywhere."""

from __future__ import annotations

import time

from tests.fixtures_targets import (
    GLOBEX_PASSWORD,
    HOST_PASSWORD,
    PARTS,
    TargetRig,
    org_yaml,
    target_yaml,
)
from tests.orchestrator_server import CLIENT_SECRET


def _synced(rig: TargetRig) -> dict[str, dict[str, str]]:
    _, status = rig.status()
    return {s["scope"]: s["conditions"].get("Synced/prod", {}) for s in status["scopes"]}


def test_a_401_refreshes_the_token_once_and_retries(rig: TargetRig) -> None:
    rig.server.fail("PUT", 401, times=1)
    rig.apply()
    assert len(rig.server.token_requests()) == 2  # the first token, then one refresh
    assert sorted(rig.puts()) == sorted(PARTS.values())
    assert all(c["status"] == "True" for c in _synced(rig).values())


def test_a_401_after_the_refresh_is_unauthorized(rig: TargetRig) -> None:
    rig.server.fail("PUT", 401, times=100)
    out = rig.apply(expect=3)
    puts = rig.server.api_requests("PUT")
    by_partition: dict[str, int] = {}
    for r in puts:
        by_partition[str(r.partition)] = by_partition.get(str(r.partition), 0) + 1
    assert by_partition == {p: 2 for p in PARTS.values()}  # each tried, refreshed once, tried
    failed = out["targets"]["targets"][0]["failed"]
    assert {f["reason"] for f in failed} == {"Unauthorized"}


def test_403_is_forbidden_and_the_store_keeps_the_applied_settings(rig: TargetRig) -> None:
    rig.repo.write("targets/prod.yaml", target_yaml(rig.server.url, scope="PM.Setting.Read"))
    out = rig.apply(expect=3)
    assert sorted(out["written"]) == sorted(PARTS)  # committed although no target took it
    code, status = rig.status()
    assert code == 3
    for scope in status["scopes"]:
        synced = scope["conditions"]["Synced/prod"]
        assert synced["status"] == "False" and synced["reason"] == "Forbidden"
        assert scope["conditions"]["Ready"] == {
            "status": "False",
            "reason": "NotSynced",
            "message": scope["conditions"]["Ready"]["message"],
        }
        assert "Forbidden" in scope["conditions"]["Ready"]["message"]
        assert scope["lastAppliedRevision"] is not None
    assert rig.server.settings == {}
    # Granted the write scope, the next apply retries and syncs everything.
    rig.repo.write("targets/prod.yaml", target_yaml(rig.server.url))
    rig.apply()
    assert sorted(rig.server.settings) == sorted(PARTS.values())
    assert rig.status()[0] == 0


def test_429_is_retried_after_retry_after(rig: TargetRig) -> None:
    rig.server.fail("PUT", 429, retry_after="1", times=2)
    started = time.monotonic()
    rig.apply()
    assert time.monotonic() - started >= 1.0
    assert len(rig.server.api_requests("PUT")) == len(PARTS) + 2
    assert all(c["status"] == "True" for c in _synced(rig).values())


def test_503_is_retried_with_backoff_then_reported_unavailable(rig: TargetRig) -> None:
    rig.server.fail("PUT", 503, retry_after="0", times=1000)
    out = rig.apply(expect=3)
    assert len(rig.server.api_requests("PUT")) == 4 * len(PARTS)  # 1 try + 3 retries each
    failed = out["targets"]["targets"][0]["failed"]
    assert {f["reason"] for f in failed} == {"Unavailable"}
    rig.server.faults.clear()
    rig.apply()  # the outage is over: the failed scopes are due again
    assert sorted(rig.server.settings) == sorted(PARTS.values())


def test_a_retry_after_beyond_the_wait_limit_fails_now_as_throttled(rig: TargetRig) -> None:
    rig.server.fail("PUT", 429, retry_after="120", times=1000)
    started = time.monotonic()
    out = rig.apply(expect=3)
    assert time.monotonic() - started < 30
    failed = out["targets"]["targets"][0]["failed"]
    assert {f["reason"] for f in failed} == {"Throttled"}
    assert "Retry-After 120s" in failed[0]["message"]


def test_a_silent_server_times_out(rig: TargetRig) -> None:
    rig.repo.write("targets/prod.yaml", target_yaml(rig.server.url, timeoutMs=1000))
    rig.server.delay_s = 2.5
    out = rig.apply(expect=3)
    failed = out["targets"]["targets"][0]["failed"]
    assert {f["reason"] for f in failed} == {"Timeout"}
    assert _synced(rig)["host"]["reason"] == "Timeout"


def test_platform_defaults_are_not_written_and_unmapped_orgs_say_so(rig: TargetRig) -> None:
    rig.env["MAILCTL_PLATFORM_SMTP_PASSWORD"] = "platform-Pass.Canary~31"
    rig.repo.write(
        "host.yaml", "apiVersion: mailctl/v1\nkind: HostMailSettings\nspec: {mode: default}\n"
    )
    rig.repo.write(
        "orgs/initech.yaml",
        "apiVersion: mailctl/v1\nkind: OrgMailSettings\nmetadata: {name: initech}\n"
        "spec:\n  mode: custom\n  smtp: {host: smtp.initech.example, port: 25, tls: none}\n"
        "  from: {address: mail@initech.example}\n",
    )
    rig.apply(expect=3)
    assert sorted(rig.puts()) == [PARTS["org/globex"]]  # the only custom, mapped org
    synced = _synced(rig)
    for scope in ("host", "org/acme", "org/umbrella"):
        assert synced[scope] == {
            "status": "True",
            "reason": "PlatformDefault",
            "message": synced[scope]["message"],
        }
    assert synced["org/initech"]["status"] == "False"
    assert synced["org/initech"]["reason"] == "NoPartition"
    assert synced["org/globex"]["reason"] == "Synced"


def test_no_password_client_secret_or_token_in_any_output_log_or_store(rig: TargetRig) -> None:
    rig.apply()
    rig.env["HOST_SMTP_PASSWORD"] = rotated = "host-Rotated.Canary~0c0c"
    rig.server.fail("PUT", 400, times=1000, echo=True)  # a server that echoes the request
    out = rig.run("apply", "--probe", "off", "--log-format", "json", expect=3)
    assert "***" in out.stdout  # the echoed secrets were masked, not dropped silently
    rig.run("status")
    rig.run("status", "--format", "json")
    rig.run("plan", "--format", "json")
    rig.repo.write("orgs/acme.yaml", org_yaml("acme", custom=False, target="prod"))
    tokens = list(rig.server.tokens)
    assert tokens
    canaries = [HOST_PASSWORD, GLOBEX_PASSWORD, rotated, CLIENT_SECRET, *tokens]
    text = "\n".join(rig.outputs)
    stored = b"".join(p.read_bytes() for p in rig.store.parent.iterdir() if p.is_file())
    for canary in canaries:
        assert canary not in text
        assert canary.encode() not in stored
