"""The daemon cache's incremental indexes give the same set as validating every cached
check again (``validate.combine``), after every kind of edit: valid, broken, renamed,
duplicated, removed, added, host broken and fixed."""

from __future__ import annotations

import random
from pathlib import Path

from reconciler.daemon.cache import ManifestCache
from reconciler.diagnostics import sort_key
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
