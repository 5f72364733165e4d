"""The plan's stored side read by digest (``reconciler.stored``, issue 11): the same plans
as against every decoded record, with only the scopes that differ decoded, on every store
backend."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.desired import build_desired
from reconciler.plan import Plan, compute_plan
from reconciler.reconcile import apply_run, plan_folder
from reconciler.resolve import BUILTIN_PLATFORM
from reconciler.secrets import SecretCache
from reconciler.store import ScopeRecord, StateStore, open_store
from reconciler.stored import Current, Unchanged, desired_digest
from reconciler.validate import validate_paths
from tests import manifests
from tests.store_contract.backends import BACKENDS

ENV = {
    "TEST_SMTP_PASSWORD": "host-secret",
    "ACME_SMTP_PASSWORD": "acme-secret",
    "GLOBEX_SMTP_PASSWORD": "globex-secret",
}


class Recording:
    """A real store that notes which scopes were read whole (``scopes(names)``)."""

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self.read: list[str] = []
        self.full_reads = 0

    def scopes(self, names: Collection[str] | None = None) -> dict[str, ScopeRecord]:
        if names is None:
            self.full_reads += 1
        else:
            self.read.extend(names)
        return self._store.scopes(names)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    root = tmp_path / "configs"
    (root / "orgs").mkdir(parents=True)
    (root / "host.yaml").write_text(manifests.host(port=2525, user="mailer"))
    for name in ("alpha", "beta", "gamma", "delta"):
        (root / "orgs" / f"{name}.yaml").write_text(manifests.org(name))
    (root / "orgs" / "acme.yaml").write_text(
        manifests.org("acme", "custom", host="smtp.acme.example", user="u", probe_to="p@a.ex")
    )
    (root / "orgs" / "globex.yaml").write_text(
        manifests.org("globex", "custom", host="smtp.globex.example", user="g")
    )
    (root / "orgs" / "initech.yaml").write_text(manifests.org("initech", probe_to="i@i.ex"))
    return root


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path, configs: Path) -> Iterator[StateStore]:
    """After a first apply, on every store backend (PostgreSQL: a fresh database)."""
    with BACKENDS[request.param](tmp_path) as target, open_store(target) as st:
        _apply(st, configs, "r1", ENV)
        yield st


def _apply(store: StateStore, configs: Path, revision: str, env: dict[str, str]) -> None:
    run = validate_paths([configs])
    apply_run(store, run, platform=BUILTIN_PLATFORM, revision=revision, policy="off", environ=env)


def _reference(store: StateStore, configs: Path, env: dict[str, str]) -> Plan:
    """The plan against every decoded record (what ``plan`` did before issue 11)."""
    run = validate_paths([configs])
    current = store.scopes()
    secrets = SecretCache(store.fingerprint_key(), env)
    return compute_plan(current, build_desired(run, current, BUILTIN_PLATFORM, secrets))


def _org(configs: Path, name: str) -> Path:
    return configs / "orgs" / f"{name}.yaml"


Edit = Callable[[Path, dict[str, str]], None]
EDITS: dict[str, Edit] = {
    "nothing": lambda c, env: None,
    "host port (cascade)": lambda c, env: (c / "host.yaml").write_text(
        manifests.host(port=2600, user="mailer")
    ),
    "host secret rotated": lambda c, env: env.update(TEST_SMTP_PASSWORD="rotated"),
    "org secret rotated": lambda c, env: env.update(ACME_SMTP_PASSWORD="rotated"),
    "custom org changed": lambda c, env: _org(c, "globex").write_text(
        manifests.org("globex", "custom", host="smtp2.globex.example", user="g")
    ),
    "org to custom": lambda c, env: _org(c, "beta").write_text(
        manifests.org("beta", "custom", host="smtp.beta.example")
    ),
    "org probe": lambda c, env: _org(c, "gamma").write_text(
        manifests.org("gamma", probe_to="g@g.ex")
    ),
    "org removed": lambda c, env: _org(c, "delta").unlink(),
    "org added": lambda c, env: _org(c, "omega").write_text(manifests.org("omega")),
    "file moved": lambda c, env: shutil.move(_org(c, "alpha"), c / "orgs" / "a-moved.yaml"),
    "org file broken": lambda c, env: _org(c, "acme").write_text("kind: OrgMailSettings\n:"),
    "file naming nothing": lambda c, env: (
        _org(c, "delta").unlink(),
        (c / "orgs" / "junk.yaml").write_text("{{{"),
    ),
    "host broken": lambda c, env: (c / "host.yaml").write_text("kind: [\n"),
    "no host": lambda c, env: (c / "host.yaml").unlink(),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_the_plan_equals_the_plan_against_every_record(
    edit: str, store: StateStore, configs: Path
) -> None:
    env = dict(ENV)
    EDITS[edit](configs, env)
    want = _reference(store, configs, env)
    recording = Recording(store)
    plan, desired = plan_folder(recording, configs, BUILTIN_PLATFORM, environ=env)
    assert plan == want
    assert recording.full_reads == 0
    # Whole records are read for the host, what changes and what nothing desires only.
    changed = {c.scope for c in (*plan.changes, *plan.cascade)}
    gone = set(store.scopes()) - set(desired.scopes)
    assert set(recording.read) <= {"host"} | changed | gone
    # Applied, the next plan (both ways) has nothing to do but what stays held.
    _apply(store, configs, "r2", env)
    again, _ = plan_folder(store, configs, BUILTIN_PLATFORM, environ=env)
    assert again == _reference(store, configs, env)
    assert not again.has_changes


def test_a_host_change_decodes_the_cascade_not_the_custom_orgs(
    store: StateStore, configs: Path
) -> None:
    (configs / "host.yaml").write_text(manifests.host(port=2600, user="mailer"))
    recording = Recording(store)
    plan, _ = plan_folder(recording, configs, BUILTIN_PLATFORM, environ=ENV)
    assert [c.scope for c in plan.cascade] == [
        "org/alpha",
        "org/beta",
        "org/delta",
        "org/gamma",
        "org/initech",
    ]
    assert sorted(recording.read) == sorted(["host", *(c.scope for c in plan.cascade)])


def test_unchanged_scopes_are_the_desired_values_with_the_stored_metadata(
    store: StateStore, configs: Path
) -> None:
    recording = Recording(store)
    plan, desired = plan_folder(recording, configs, BUILTIN_PLATFORM, environ=ENV)
    assert plan.converged and recording.read == ["host"]
    stored = store.scopes()
    with store.transaction() as tx:
        from reconciler.stored import read_current

        run = validate_paths([configs])
        secrets = SecretCache(store.fingerprint_key(), ENV)
        current, desired = read_current(
            tx, lambda rows: build_desired(run, rows, BUILTIN_PLATFORM, secrets)
        )
        assert isinstance(current, Current) and set(current) == set(stored)
        acme = current["org/acme"]
        assert isinstance(acme, Unchanged)
        assert acme.effective is desired.scopes["org/acme"].effective
        rec = stored["org/acme"]
        assert (acme.mode, acme.spec, acme.effective, acme.sources, acme.fingerprint) == (
            rec.mode,
            rec.spec,
            rec.effective,
            rec.sources,
            rec.fingerprint,
        )
        assert (acme.source_file, acme.conditions, acme.last_applied_revision) == (
            rec.source_file,
            rec.conditions,
            rec.last_applied_revision,
        )
        assert current.full("org/acme") == rec  # read whole on demand
        for scope, want in desired.scopes.items():
            assert desired_digest(want) == tx.scope_digests()[scope].digest


def test_validated_manifests_share_the_inheriting_spec_and_the_scope_string(
    configs: Path,
) -> None:
    run = validate_paths([configs])
    plain = [m for m in run.manifests if m.raw == {"mode": "default"}]
    assert len(plain) == 4 and len({id(m.raw) for m in plain}) == 1
    for check in run.checks:
        assert check.manifest is not None and check.ident is not None
        assert check.manifest.scope is check.ident.scope
