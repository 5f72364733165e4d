"""Apply against real SQLite stores and real git repositories."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from reconciler import conditions
from reconciler.errors import ExitCode, NotSuspendedError
from reconciler.gitrev import revision_id
from reconciler.operations import diff_revisions, rollback
from reconciler.plan import Action, compute_plan
from reconciler.reconcile import ApplyResult, apply_run, plan_folder
from reconciler.reporters.plan import render_json, render_markdown, render_text
from reconciler.resolve import BUILTIN_PLATFORM
from reconciler.store import StateStore
from reconciler.validate import validate_paths
from tests import manifests
from tests.fixtures_repo import ConfigRepo


def apply(repo: ConfigRepo, store: StateStore, **kwargs: object) -> ApplyResult:
    run = validate_paths([repo.configs])
    kwargs.setdefault("policy", "off")
    kwargs.setdefault("revision", revision_id(repo.configs))
    return apply_run(store, run, platform=BUILTIN_PLATFORM, **kwargs)  # type: ignore[arg-type]


def test_first_apply_creates_all_and_second_writes_nothing(
    repo: ConfigRepo, store: StateStore
) -> None:
    first = apply(repo, store)
    assert first.plan.summary == {"create": 4, "update": 0, "delete": 0}
    assert first.exit_code is ExitCode.OK
    head = repo.git("rev-parse", "HEAD")
    assert first.revision == head
    assert set(store.scopes()) == {"host", "org/acme", "org/globex", "org/umbrella"}
    assert all(r.last_applied_revision == head for r in store.scopes().values())
    version = store.data_version()
    second = apply(repo, store)
    assert not second.plan.has_changes and second.written == []
    assert store.data_version() == version, "a no-op apply must not write"
    assert len(store.history()) == 1


def test_host_change_cascades_to_exactly_the_inheriting_orgs(
    repo: ConfigRepo, store: StateStore
) -> None:
    apply(repo, store)
    repo.write("host.yaml", manifests.host(port=2600))
    plan, _ = plan_folder(store, repo.configs, BUILTIN_PLATFORM)
    assert [(c.scope, c.action) for c in plan.changes] == [("host", Action.UPDATE)]
    assert [c.scope for c in plan.cascade] == ["org/acme", "org/umbrella"]
    assert plan.changes[0].changes[0].field == "smtp.port"
    text = render_text(plan, color=False)
    assert (
        "Cascade: the host change also changes the effective settings of 2 inheriting orgs" in text
    )
    assert "org/acme, org/umbrella" in text
    assert "Plan: 0 to create, 1 to update, 0 to delete." in text
    result = apply(repo, store)
    scopes = store.scopes()
    assert scopes["org/acme"].effective["smtp.port"] == 2600
    assert scopes["org/globex"].effective["smtp.port"] == 2526
    assert sorted(result.written) == ["host", "org/acme", "org/umbrella"]


def test_secret_rotation_is_detected_and_masked(
    repo: ConfigRepo, store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "first-secret-value")
    repo.write("host.yaml", manifests.host(user="mailer"))
    apply(repo, store)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "second-secret-value")
    plan, _ = plan_folder(store, repo.configs, BUILTIN_PLATFORM)
    host = plan.changes[0]
    assert host.scope == "host" and host.action is Action.UPDATE
    assert [(c.field, c.sensitive) for c in host.changes] == [("smtp.auth.password", True)]
    assert [c.scope for c in plan.cascade] == ["org/acme", "org/umbrella"]
    for rendered in (render_text(plan, color=False), render_json(plan), render_markdown(plan)):
        assert "(sensitive value changed)" in rendered
        assert "secret-value" not in rendered


def test_removed_org_is_pruned(repo: ConfigRepo, store: StateStore) -> None:
    apply(repo, store)
    repo.remove("orgs/acme.yaml")
    result = apply(repo, store)
    assert [(c.scope, c.action) for c in result.plan.changes] == [("org/acme", Action.DELETE)]
    assert "org/acme" not in store.scopes()


@pytest.mark.parametrize("what", ["everything", "host"])
def test_prune_guard_refuses_empty_set_or_missing_host(
    repo: ConfigRepo, store: StateStore, what: str
) -> None:
    apply(repo, store)
    before = store.scopes()
    version = store.data_version()
    if what == "everything":
        for path in repo.configs.rglob("*.yaml"):
            path.unlink()
    else:
        repo.remove("host.yaml")
    result = apply(repo, store)
    assert result.plan.set_error and result.exit_code is ExitCode.ERROR
    assert not [c for c in result.plan.changes if c.action is Action.DELETE]
    after = store.scopes()
    assert set(after) == set(before)
    assert all(r.effective == before[s].effective for s, r in after.items())
    assert all(conditions.is_stalled(r.conditions) for r in after.values())
    assert store.data_version() > version  # conditions were recorded


@pytest.mark.parametrize(
    "broken",
    [
        manifests.org("acme").replace("mode: default", "mode: bogus"),
        "apiVersion: mailctl/v1\nkind: [unclosed\n",
        "",
    ],
    ids=["schema-error", "yaml-syntax", "empty"],
)
def test_broken_org_file_holds_only_its_org(
    repo: ConfigRepo, store: StateStore, broken: str
) -> None:
    apply(repo, store)
    old_acme = store.get("org/acme")
    repo.write("orgs/acme.yaml", broken)
    repo.write("host.yaml", manifests.host(port=2700))
    result = apply(repo, store)
    assert result.exit_code is ExitCode.DEGRADED
    assert [h.scope for h in result.held] == ["org/acme"]
    assert result.held[0].reason == "InvalidManifest"
    assert "acme.yaml:" in result.held[0].message
    acme, umbrella = store.get("org/acme"), store.get("org/umbrella")
    assert acme is not None and old_acme is not None and umbrella is not None
    assert acme.effective == old_acme.effective  # kept its last applied settings
    assert conditions.is_stalled(acme.conditions)
    assert umbrella.effective["smtp.port"] == 2700  # everybody else reconciled
    # fixing the file recovers it
    repo.write("orgs/acme.yaml", manifests.org("acme"))
    apply(repo, store)
    acme = store.get("org/acme")
    assert acme is not None and acme.effective["smtp.port"] == 2700
    assert not conditions.is_stalled(acme.conditions)


def test_unresolvable_secret_fails_only_that_scope(
    repo: ConfigRepo, store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GLOBEX_SMTP_PASSWORD", raising=False)
    repo.write("orgs/globex.yaml", manifests.org("globex", "custom", port=2526, user="g"))
    result = apply(repo, store)
    assert [(h.scope, h.reason) for h in result.held] == [("org/globex", "SecretUnresolved")]
    assert "GLOBEX_SMTP_PASSWORD is not set" in result.held[0].message
    assert set(store.scopes()) == {"host", "org/acme", "org/umbrella"}


def test_drift_is_shown_and_corrected(
    repo: ConfigRepo, store: StateStore, store_path: Path
) -> None:
    apply(repo, store)
    with sqlite3.connect(store_path) as conn:
        (raw,) = conn.execute("SELECT effective FROM scopes WHERE scope='org/acme'").fetchone()
        conn.execute(
            "UPDATE scopes SET effective=? WHERE scope='org/acme'",
            (raw.replace("127.0.0.1", "evil.example"),),
        )
    conn.close()
    plan, _ = plan_folder(store, repo.configs, BUILTIN_PLATFORM)
    (change,) = plan.changes
    assert change.scope == "org/acme" and change.drift and change.action is Action.UPDATE
    assert "drift" in render_text(plan, color=False)
    apply(repo, store)
    acme = store.get("org/acme")
    assert acme is not None and acme.effective["smtp.host"] == "127.0.0.1"


def test_diff_between_two_commits(repo: ConfigRepo) -> None:
    base = repo.git("rev-parse", "HEAD")
    repo.write("host.yaml", manifests.host(port=2600))
    repo.write("orgs/new.yaml", manifests.org("new"))
    repo.remove("orgs/globex.yaml")
    head = repo.commit("change")
    plan = diff_revisions(repo.configs, base, head, BUILTIN_PLATFORM)
    assert plan.summary == {"create": 1, "update": 1, "delete": 1}
    assert [c.scope for c in plan.cascade] == ["org/acme", "org/umbrella"]
    assert all("mailctl-diff-" not in (c.source_file or "") for c in plan.changes)
    # working tree as head: no difference to HEAD
    assert not diff_revisions(repo.configs, head, None, BUILTIN_PLATFORM).has_changes


def test_diff_against_a_revision_without_the_configs_folder(repo: ConfigRepo) -> None:
    repo.git("rm", "-q", "-r", "configs")
    empty = repo.commit("no configs yet")
    repo.git("checkout", "-q", "HEAD~1", "--", "configs")
    plan = diff_revisions(repo.configs, empty, None, BUILTIN_PLATFORM)
    assert plan.summary == {"create": 4, "update": 0, "delete": 0}
    assert not plan.set_error


def test_revision_id_marks_dirty_folders(repo: ConfigRepo) -> None:
    head = repo.git("rev-parse", "HEAD")
    assert revision_id(repo.configs) == head
    repo.write("orgs/extra.yaml", manifests.org("extra"))
    assert revision_id(repo.configs) == f"{head}-dirty"


def test_history_and_rollback_require_suspend(repo: ConfigRepo, store: StateStore) -> None:
    apply(repo, store)
    repo.write("host.yaml", manifests.host(port=2600))
    repo.commit("port")
    apply(repo, store)
    first_id = min(e.id for e in store.history())
    with pytest.raises(NotSuspendedError):
        rollback(store, first_id, "tester")
    store.set_suspended("incident 42", "tester")
    hid, scopes = rollback(store, first_id, "tester")
    assert hid is not None and "host" in scopes
    assert store.scopes()["org/acme"].effective["smtp.port"] == 2525
    assert store.history()[0].kind == "rollback"
    assert [e.id for e in store.history("org/globex")] == [first_id]


def test_plan_is_pure_and_repeatable(repo: ConfigRepo, store: StateStore) -> None:
    apply(repo, store)
    repo.write("host.yaml", manifests.host(port=2600))
    run = validate_paths([repo.configs])
    from reconciler.desired import build_desired

    current = store.scopes()
    state = build_desired(run, current, BUILTIN_PLATFORM, None)
    assert compute_plan(current, state) == compute_plan(current, state)
