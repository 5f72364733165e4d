"""Rollback through compact history, end to end: real manifests, real applies, a real
SQLite store. After a seeded random run of changes (host changes cascading to the
inheriting orgs, orgs added and removed, mode flips, host and org secrets rotated), a
rollback to *any* entry gives exactly the settings the store held right after that entry
— what a history of full records would give back."""

from __future__ import annotations

import random
from typing import Any

import pytest

from reconciler.errors import StoreError
from reconciler.operations import rollback
from reconciler.reconcile import apply_run
from reconciler.resolve import BUILTIN_PLATFORM
from reconciler.store import StateStore
from reconciler.validate import validate_paths
from tests import manifests
from tests.fixtures_cli import Mailctl
from tests.fixtures_repo import ConfigRepo

Settings = dict[str, tuple[Any, ...]]


def settings(store: StateStore) -> Settings:
    """What a full-record history keeps of each scope (its applied settings)."""
    return {
        s: (r.mode, r.spec, r.effective, r.sources, r.fingerprint, r.source_file)
        for s, r in store.scopes().items()
    }


class World:
    """The manifests and secrets of the run, changed one random step at a time."""

    def __init__(self, repo: ConfigRepo, rng: random.Random) -> None:
        self.repo, self.rng = repo, rng
        self.host: dict[str, Any] = {"port": 2525, "user": "platform", "display_name": "P"}
        self.orgs: dict[str, dict[str, Any]] = {}
        self.environ = {"TEST_SMTP_PASSWORD": "host-0"}
        self.n = 0

    def write_host(self) -> None:
        self.repo.write("host.yaml", manifests.host(**self.host))

    def add_org(self) -> None:
        self.n += 1
        name = f"org{self.n:02d}"
        custom = self.rng.random() < 0.4
        self.orgs[name] = {"mode": "custom", "port": 2600 + self.n, "user": name} if custom else {}
        self.environ[manifests.org_secret_env(name)] = f"{name}-0"
        self.write_org(name)

    def write_org(self, name: str) -> None:
        self.repo.write(f"orgs/{name}.yaml", manifests.org(name, **self.orgs[name]))

    def step(self, i: int) -> str:
        kinds = ["host", "add", "remove", "flip", "secret", "hostsecret"]
        kind = kinds[i - 1] if i <= len(kinds) else self.rng.choice(["host", *kinds])
        if kind == "host":
            key = self.rng.choice(["port", "display_name"])
            self.host[key] = 3000 + i if key == "port" else f"Platform {i}"
            self.write_host()
        elif kind == "add" or not self.orgs:
            self.add_org()
            kind = "add"
        elif kind == "remove":
            name = self.rng.choice(sorted(self.orgs))
            del self.orgs[name]
            self.repo.remove(f"orgs/{name}.yaml")
        elif kind == "flip":
            name = self.rng.choice(sorted(self.orgs))
            custom = self.orgs[name].get("mode") == "custom"
            self.orgs[name] = {} if custom else {"mode": "custom", "port": 2700 + i, "user": name}
            self.write_org(name)
        elif kind == "secret":
            name = self.rng.choice(sorted(self.orgs))
            self.environ[manifests.org_secret_env(name)] = f"{name}-{i}"
        else:
            self.environ["TEST_SMTP_PASSWORD"] = f"host-{i}"
        return kind


def apply(world: World, store: StateStore, i: int, keep: int) -> int | None:
    run = validate_paths([world.repo.configs])
    result = apply_run(
        store,
        run,
        platform=BUILTIN_PLATFORM,
        revision=f"r{i}",
        policy="off",
        environ=world.environ,
        history_keep=keep,
    )
    assert not result.held, result.held
    return result.history_id


@pytest.mark.parametrize("seed", [7, 8])
def test_rollback_to_any_entry_gives_the_full_record_settings(
    repo: ConfigRepo, store: StateStore, seed: int
) -> None:
    world = World(repo, random.Random(seed))
    world.write_host()
    for _ in range(3):
        world.add_org()
    reference: dict[int, Settings] = {}
    kinds = set()
    for i in range(24):
        hid = apply(world, store, i, keep=1000)
        if hid is not None:
            reference[hid] = settings(store)
        kinds.add(world.step(i + 1))
    assert kinds == {"host", "add", "remove", "flip", "secret", "hostsecret"}
    cascades = [e for e in store.history(limit=None) if "host" in e.scopes and len(e.scopes) > 2]
    assert cascades, "the run has host changes that cascade"

    store.set_suspended("rollback test", "tester")
    order = list(reference)
    random.Random(seed).shuffle(order)
    for hid in order:
        rollback(store, hid, "tester")
        assert settings(store) == reference[hid], f"rollback to #{hid}"
        newest = store.history(limit=1)[0]
        assert newest.kind == "rollback" or settings(store) == reference[hid]
    # rolled back to the newest state, a rollback to it again changes nothing
    last = max(reference)
    rollback(store, last, "tester")
    assert rollback(store, last, "tester") == (None, [])


def test_history_keep_bounds_history_and_rollback_names_the_missing_entry(
    repo: ConfigRepo, store: StateStore
) -> None:
    world = World(repo, random.Random(3))
    world.write_host()
    world.add_org()
    reference: dict[int, Settings] = {}
    for i in range(12):
        world.host["port"] = 4000 + i  # every apply changes something
        world.write_host()
        hid = apply(world, store, i, keep=5)
        assert hid is not None
        reference[hid] = settings(store)
    kept = [e.id for e in store.history(limit=None)]
    assert kept == sorted(reference)[-5:][::-1]
    store.set_suspended("rollback test", "tester")
    with pytest.raises(StoreError, match=f"no history entry #{min(reference)}"):
        rollback(store, min(reference), "tester", history_keep=5)
    rollback(store, kept[-1], "tester", history_keep=5)
    assert settings(store) == reference[kept[-1]]
    assert len(store.history(limit=None)) == 5


def test_cli_history_keep_bounds_history_on_apply(mailctl: Mailctl) -> None:
    mailctl.env["TEST_SMTP_PASSWORD"] = "x"
    for port in (2600, 2601, 2602, 2603):
        mailctl.repo.write("host.yaml", manifests.host(port=port))
        mailctl("apply", "--probe", "off", "--history-keep", "2", expect=0)
    entries = mailctl.json("history", expect=0)["entries"]
    assert len(entries) == 2 and entries[0]["id"] > entries[1]["id"]
    mailctl.env["MAILCTL_HISTORY_KEEP"] = "1"
    mailctl.repo.write("host.yaml", manifests.host(port=2700))
    mailctl("apply", "--probe", "off", expect=0)
    assert len(mailctl.json("history", expect=0)["entries"]) == 1
    bad = mailctl("apply", "--probe", "off", "--history-keep", "0", expect=1)
    assert "--history-keep" in bad.stderr and len(bad.stderr.strip().splitlines()) <= 3
