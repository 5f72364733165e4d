"""Probe policies wired into apply, against real aiosmtpd servers (STARTTLS + AUTH)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from reconciler import conditions
from reconciler.errors import ExitCode
from reconciler.gitrev import revision_id
from reconciler.reconcile import ApplyResult, ProbeOptions, apply_run
from reconciler.resolve import BUILTIN_PLATFORM
from reconciler.store import StateStore
from reconciler.validate import validate_paths
from tests import manifests
from tests.fixtures_repo import ConfigRepo
from tests.fixtures_smtp import Pki, RunningServer, ServerSpec

ServerFactory = Callable[[ServerSpec], RunningServer]


def apply(repo: ConfigRepo, store: StateStore, pki: Pki, policy: str) -> ApplyResult:
    return apply_run(
        store,
        validate_paths([repo.configs]),
        platform=BUILTIN_PLATFORM,
        revision=revision_id(repo.configs),
        policy=policy,  # type: ignore[arg-type]
        probe_options=ProbeOptions(ca_file=pki.ca_file),
    )


@pytest.fixture
def auth_server(smtp_server: ServerFactory) -> RunningServer:
    return smtp_server(ServerSpec(tls="starttls", users={"demo": "right-password"}))


@pytest.fixture
def authed_repo(
    repo: ConfigRepo, auth_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> ConfigRepo:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "right-password")
    repo.write("host.yaml", manifests.host(port=auth_server.port, user="demo"))
    repo.write(
        "orgs/globex.yaml",
        manifests.org("globex", "custom", port=auth_server.port, probe_to="ops@globex.example"),
    )
    return repo


def test_after_policy_probes_once_per_distinct_config(
    authed_repo: ConfigRepo, store: StateStore, pki: Pki, auth_server: RunningServer
) -> None:
    result = apply(authed_repo, store, pki, "after")
    assert result.exit_code is ExitCode.OK, result.probes
    # host + 2 inheriting orgs share one probe; globex has its own
    assert sorted(len(p["scopes"]) for p in result.probes) == [1, 3]
    assert auth_server.recorder.sessions == 2
    assert len(auth_server.recorder.messages) == 2
    for record in store.scopes().values():
        assert record.probe is not None and record.probe["status"] == "passed"
        assert record.conditions["Ready"]["reason"] == "ProbePassed"


def test_gate_keeps_previous_settings_when_the_password_is_wrong(
    authed_repo: ConfigRepo,
    store: StateStore,
    pki: Pki,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert apply(authed_repo, store, pki, "gate").exit_code is ExitCode.OK
    before = store.get("host")
    assert before is not None
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong-password")
    result = apply(authed_repo, store, pki, "gate")
    assert result.exit_code is ExitCode.DEGRADED
    held = {h.scope: h for h in result.held}
    assert set(held) == {"host", "org/acme", "org/umbrella"}
    assert "auth_rejected" in held["host"].message
    after = store.get("host")
    assert after is not None
    assert after.fingerprint == before.fingerprint  # previous (working) settings kept
    assert after.effective == before.effective
    assert conditions.is_stalled(after.conditions)
    assert after.conditions["Stalled"]["reason"] == "ProbeFailed"


def test_after_policy_reports_failure_and_marks_not_ready(
    authed_repo: ConfigRepo, store: StateStore, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong-password")
    result = apply(authed_repo, store, pki, "after")
    assert result.exit_code is ExitCode.DEGRADED
    host = store.get("host")
    assert host is not None and host.probe is not None
    assert host.probe["class"] == "auth_rejected" and host.probe["code"] == 535
    assert not conditions.is_ready(host.conditions)
    globex = store.get("org/globex")
    assert globex is not None and conditions.is_ready(globex.conditions)
