"""The daemon cache's incremental indexes give the same set as validating every cached
check again (``validate.combine``), after every kind of edit: valid, broken, renamed,
duplicated, removed, added, host broken and fixed."""

from __future__ import annotations

import random
from pathlib import Path

from reconciler.daemon.cache import ManifestCache
from reconciler.diagnostics import sort_key
from reconciler.targets.sync import target_ids_of
from reconciler.validate import ValidationRun, combine
from tests import manifests as m

HOST = m.host()


def _org(name: str, display: str = "Acme") -> str:
    return m.org(name, mode="custom", display_name=display) if display else m.org(name)


def _view(run: ValidationRun) -> tuple[object, ...]:
    return (
        sorted(run.result.diagnostics, key=sort_key),
        run.set_errors,
        sorted(c.file for c in run.broken),
        dict(sorted(run.by_scope().items())) if not run.set_errors else None,
        run.result.files,
        [c.file for c in run.checks],
        [id(c) for c in run.checks],  # the current check of each file, not a replaced one
    )


def test_incremental_combine_equals_a_full_combine(tmp_path: Path) -> None:
    configs = tmp_path / "configs"
    (configs / "orgs").mkdir(parents=True)
    (configs / "host.yaml").write_text(HOST)
    for i in range(12):
        (configs / "orgs" / f"o{i}.yaml").write_text(_org(f"org-{i}", "" if i % 3 else "A"))
    cache = ManifestCache(configs)
    cache.full_scan()
    rng = random.Random(4)
    clean = broken = 0
    edits = [
        lambda name: _org(name, f"Shown {rng.randint(0, 99)}"),  # a valid edit
        lambda name: _org(name, ""),  # to default mode
        lambda name: "kind: OrgMailSettings\nspec: [\n",  # broken, names no scope
        lambda name: _org(name).replace("mode: default", "mode: nope"),  # broken, named
        lambda name: _org("org-0"),  # a duplicate of org-0
        lambda name: _org(name + "-renamed"),  # another scope
        lambda name: m.host(),  # a second host
    ]
    for step in range(150):
        files = sorted((configs / "orgs").glob("*.yaml"))
        roll = rng.random()
        if step % 8 == 0:  # repair everything now and then: unique, valid, one host
            (configs / "host.yaml").write_text(HOST)
            for f in files:
                f.write_text(_org(f"org-{f.stem.lower()}", rng.choice(["", "B"])))
            changed = [configs]
        elif roll < 0.1 and files:
            victim = rng.choice(files)
            victim.unlink()
            changed = [victim]
        elif roll < 0.2:
            new = configs / "orgs" / f"new{step}.yaml"
            new.write_text(_org(f"org-new-{step}"))
            changed = [new]
        elif roll < 0.27:
            host = configs / "host.yaml"
            host.write_text(rng.choice([HOST, "apiVersion: mailctl/v1\nkind: Host\n", HOST]))
            changed = [host]
        else:
            target = rng.choice(files)
            name = target.stem.replace("o", "org-", 1) if target.stem[1:].isdigit() else "x"
            target.write_text(rng.choice(edits)(name))
            changed = [target]
        cache.refresh(str(p.resolve()) for p in changed)
        incremental = cache.combine()
        full = combine((e.check for e in cache.entries.values()), require_host=True)
        assert _view(incremental) == _view(full), step
        clean += not full.set_errors
        broken += bool(full.broken)
    # Not hollow: both clean sets (scope -> manifest compared) and broken ones were seen.
    assert clean >= 20 and broken >= 20


def _hook(name: str, broken: bool = False) -> str:
    url = "not a url" if broken else f"http://127.0.0.1:9/{name}"
    return (
        f"apiVersion: mailctl/v1\nkind: WebhookTarget\nmetadata: {{name: {name}}}\n"
        f"spec:\n  url: {url}\n  secret: {{env: HOOK_SECRET}}\n"
    )


def _org_ids(name: str, ids: dict[str, str] | None, broken: bool = False) -> str:
    meta = f"{{name: {name}" + (f", targetIds: {ids}" if ids is not None else "") + "}"
    mode = "nope" if broken else "default"
    head = "apiVersion: mailctl/v1\nkind: OrgMailSettings\n"
    return f"{head}metadata: {meta}\nspec: {{mode: {mode}}}\n"


def test_incremental_targets_and_target_ids_equal_a_full_pass(tmp_path: Path) -> None:
    """The daemon syncs targets after each edit with the cache's target index and its
    org -> targetIds index (no pass over 100,000 manifests): both must equal what a pass
    over every check gives, after ids change, orgs break, are duplicated or removed, and
    target manifests appear, break and go."""
    configs = tmp_path / "configs"
    (configs / "orgs").mkdir(parents=True)
    (configs / "targets").mkdir()
    (configs / "host.yaml").write_text(HOST)
    for i in range(8):
        (configs / "orgs" / f"o{i}.yaml").write_text(_org_ids(f"org-{i}", {"prod": f"p{i}"}))
    cache = ManifestCache(configs)
    cache.full_scan()
    rng = random.Random(7)
    seen_ids = seen_targets = 0
    for step in range(200):
        roll = rng.random()
        if roll < 0.3:
            path = configs / "targets" / f"{rng.choice(['prod', 'hook', 'audit'])}.yaml"
            if path.exists() and rng.random() < 0.3:
                path.unlink()
            else:
                path.write_text(_hook(path.stem, broken=rng.random() < 0.3))
        else:
            i = rng.randrange(10)
            path = configs / "orgs" / f"o{i}.yaml"
            if path.exists() and rng.random() < 0.1:
                path.unlink()
            else:
                name = f"org-{0 if rng.random() < 0.05 else i}"  # now and then a duplicate
                ids = rng.choice([None, {"prod": f"p{step}"}, {"prod": "a", "hook": "b"}])
                path.write_text(_org_ids(name, ids, broken=rng.random() < 0.15))
        cache.refresh([str(path.resolve())])
        incremental = cache.combine()
        full = combine((e.check for e in cache.entries.values()), require_host=True)
        names = sorted(t.name for t in full.targets)
        assert [t.name for t in incremental.targets] == names, step
        seen_targets += bool(names)
        if full.set_errors:  # e.g. a duplicate scope: nothing is synced (as for by_scope)
            continue
        assert incremental.target_ids is not None
        assert dict(incremental.target_ids) == target_ids_of(full.manifests), step
        seen_ids += any(incremental.target_ids.values())
    assert seen_ids > 50 and seen_targets > 50  # the cases did occur
