"""``reconciler.gitwatch.RevisionTracker`` gives the revision ``read_revision`` gives, after
every kind of change to a real git checkout, while asking git about the changed paths only
(a full status is read again only when git's own state moved: commit, add, checkout)."""

from __future__ import annotations

import os
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.gitrev import read_revision
from reconciler.gitwatch import RevisionTracker
from tests import manifests
from tests.fixtures_repo import GIT_ENV, ConfigRepo


@pytest.fixture(name="checkout")
def checkout_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ConfigRepo:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    r = ConfigRepo(tmp_path / "repo")
    r.root.mkdir()
    r.git("init", "-q", "-b", "main")
    r.write("host.yaml", manifests.host())
    for name in ("acme", "globex", "umbrella"):
        r.write(f"orgs/{name}.yaml", manifests.org(name))
    (r.root / "README.md").write_text("outside the configs folder\n")
    r.commit("initial")
    return r


def test_the_tracker_agrees_with_a_full_read_after_every_change(checkout: ConfigRepo) -> None:
    r = checkout
    tracker = RevisionTracker(r.configs)
    assert tracker.read().id == r.git("rev-parse", "HEAD")
    rng = random.Random(11)
    orgs = r.configs / "orgs"

    def edit() -> list[Path]:
        f = rng.choice(sorted(orgs.glob("*.yaml")))
        f.write_text(manifests.org(f.stem, mode="custom", display_name=f"N{rng.randrange(9)}"))
        return [f]

    committed = {f: f.read_bytes() for f in orgs.glob("*.yaml")}

    def restore() -> list[Path]:  # the first commit's bytes, written back (no git involved)
        f, data = rng.choice(sorted(committed.items()))
        f.write_bytes(data)
        return [f]

    def chmod() -> list[Path]:  # the executable bit is a change too (core.fileMode)
        files = sorted(orgs.glob("*.yaml"))
        if not files:
            return []
        f = rng.choice(files)
        f.chmod(f.stat().st_mode ^ 0o100)
        return [f]

    def revert() -> list[Path]:  # back to HEAD's bytes: clean again
        files = sorted(orgs.glob("*.yaml"))
        r.git("checkout", "--", str(r.configs))
        return [*files, *orgs.glob("*.yaml")]

    def untracked_dir() -> list[Path]:
        d = orgs / f"team-{rng.randrange(3)}"
        d.mkdir(exist_ok=True)
        f = d / f"x{rng.randrange(3)}.yaml"
        f.write_text(manifests.org(f"x{rng.randrange(99)}"))
        return [f]

    def remove_dir() -> list[Path]:
        dirs = [d for d in orgs.iterdir() if d.is_dir()]
        if not dirs:
            return []
        d = rng.choice(dirs)
        shutil.rmtree(d)
        return [d]

    def delete() -> list[Path]:
        files = sorted(orgs.glob("*.yaml"))
        if len(files) < 2:
            return []
        f = rng.choice(files)
        f.unlink()
        return [f]

    def rename() -> list[Path]:
        files = sorted(orgs.glob("*.yaml"))
        if not files:
            return []
        f = rng.choice(files)
        new = f.with_name(f"renamed-{rng.randrange(99)}.yaml")
        if new.exists():
            return []
        f.rename(new)
        return [f, new]

    def outside() -> list[Path]:  # not under configs: never makes it dirty
        f = r.root / "README.md"
        f.write_text(f"edited {rng.random()}\n")
        return [f]

    def commit() -> list[Path]:
        r.commit(f"step {rng.random()}")
        return []

    def stage() -> list[Path]:
        r.git("add", "-A")
        return []

    steps: list[Callable[[], list[Path]]] = [
        edit,
        edit,
        edit,
        restore,
        restore,
        chmod,
        revert,
        untracked_dir,
        remove_dir,
        delete,
        rename,
        outside,
        commit,
        stage,
    ]
    seen = set()
    reads = 0
    kinds: set[str] = set()
    for step in range(120):
        action = rng.choice(steps)
        changed = action()
        for p in changed:  # git compares mtimes in whole seconds: make each rewrite show
            if p.is_file():
                os.utime(p, (time.time() + 10 + step, time.time() + 10 + step))
        tracker.note(str(p) for p in changed)
        got, want = tracker.read().id, read_revision(r.configs).id
        assert got == want, (step, action.__name__)
        seen.add(want.endswith("-dirty"))
        kinds.add(f"{action.__name__}:{want.endswith('-dirty')}")
        reads += 1
    assert seen == {True, False}
    assert {"edit:True", "restore:True", "chmod:True", "untracked_dir:True"} <= kinds, kinds
    # a full status only after git's own state moved (commit, add, checkout), not per edit
    assert tracker.full_reads < reads / 2, (tracker.full_reads, reads)
    assert tracker.status_reads == 0  # every changed path was judged by its hash


def test_a_change_it_was_not_told_about_shows_at_the_next_full_read(
    checkout: ConfigRepo,
) -> None:
    tracker = RevisionTracker(checkout.configs)
    head = tracker.read().id
    checkout.write("orgs/acme.yaml", manifests.org("acme", mode="custom", display_name="X"))
    assert tracker.read().id == head  # not told: the daemon did not apply it either
    tracker.note(None)  # a resync
    assert tracker.read().id == f"{head}-dirty"


def test_outside_git_it_says_why_like_read_revision(tmp_path: Path) -> None:
    configs = tmp_path / "configs"
    configs.mkdir()
    tracker = RevisionTracker(configs)
    got = tracker.read()
    assert (got.id, got.reason) == (read_revision(configs).id, read_revision(configs).reason)
    assert got.reason is not None and "not inside a git repository" in got.reason


def test_a_removed_folder_clears_what_differed_below_it(checkout: ConfigRepo) -> None:
    """The watcher may report only the folder when a whole folder goes away."""
    tracker = RevisionTracker(checkout.configs)
    head = tracker.read().id
    team = checkout.configs / "orgs" / "team"
    team.mkdir()
    for name in ("a", "b"):
        (team / f"{name}.yaml").write_text(manifests.org(f"team-{name}"))
    tracker.note([str(team / "a.yaml"), str(team / "b.yaml")])
    assert tracker.read().id == f"{head}-dirty"
    shutil.rmtree(team)
    tracker.note([str(team)])
    assert tracker.read().id == head == read_revision(checkout.configs).id
    assert tracker.full_reads == 1


@pytest.mark.parametrize(
    ("case", "steps", "dirty"),
    [
        ("edit", ["edit"], True),
        ("edit then the same bytes back", ["edit", "back"], False),
        ("staged, then the worktree back to HEAD", ["edit", "add", "back"], True),
        ("executable bit", ["chmod"], True),
        ("executable bit back", ["chmod", "chmod"], False),
        ("an ignored new file", ["ignored"], False),
        ("a new file", ["new"], True),
        ("a new file removed again", ["new", "rm-new"], False),
        ("eol attribute: git itself is asked", ["crlf"], True),
    ],
)
def test_each_kind_of_change(
    checkout: ConfigRepo, case: str, steps: list[str], dirty: bool
) -> None:
    r = checkout
    acme = r.configs / "orgs" / "acme.yaml"
    new = r.configs / "orgs" / "new.yaml"
    (r.root / ".gitignore").write_text("*.swp\n")
    if "crlf" in steps:
        (r.root / ".gitattributes").write_text("*.yaml text eol=lf\n")
    r.commit("ignore and attributes")
    tracker = RevisionTracker(r.configs)
    head = tracker.read().id
    original = acme.read_bytes()
    for n, step in enumerate(steps):
        touched = [acme]
        if step == "edit":
            acme.write_text(manifests.org("acme", mode="custom", display_name="Edited"))
        elif step == "back":
            acme.write_bytes(original)
        elif step == "add":
            r.git("add", "-A")
        elif step == "chmod":
            acme.chmod(acme.stat().st_mode ^ 0o100)
        elif step == "ignored":
            touched = [r.configs / "orgs" / "acme.yaml.swp"]
            touched[0].write_text("swap")
        elif step == "new":
            new.write_text(manifests.org("new"))
            touched = [new]
        elif step == "rm-new":
            new.unlink()
            touched = [new]
        elif step == "crlf":
            acme.write_bytes(original.replace(b"\n", b"\r\n"))
        if acme.exists():
            os.utime(acme, (time.time() + 10 + n, time.time() + 10 + n))
        tracker.note(str(p) for p in touched)
    got = tracker.read().id
    assert got == read_revision(r.configs).id
    assert got == (f"{head}-dirty" if dirty else head), case
    if "add" not in steps:  # only git's own state moving makes it read everything
        assert tracker.full_reads == 1
    # content is compared by hash, unless a conversion applies: then git status judges
    assert tracker.status_reads == (1 if "crlf" in steps else 0)


def test_outside_git_edits_ask_git_again_only_at_a_full_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configs = tmp_path / "configs"
    configs.mkdir()
    tracker = RevisionTracker(configs)
    assert tracker.read().id == "unversioned"
    tracker.note([str(configs / "host.yaml")])
    assert tracker.read().id == "unversioned" and tracker.full_reads == 1
    r = ConfigRepo(tmp_path)  # the folder becomes a checkout: the next resync sees it
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    r.git("init", "-q", "-b", "main")
    r.write("host.yaml", manifests.host())
    head = r.commit()
    tracker.note(None)
    assert tracker.read().id == head and tracker.full_reads == 2


def test_a_configs_symlink_swapped_to_another_checkout_reads_that_one(
    checkout: ConfigRepo, tmp_path: Path
) -> None:
    """git-sync publishes each revision as a new checkout behind a symlink it swaps."""
    other = tmp_path / "other"
    checkout.git("clone", "-q", str(checkout.root), str(other))
    clone = ConfigRepo(other)
    clone.write("orgs/acme.yaml", manifests.org("acme", mode="custom", display_name="B"))
    newer = clone.commit("newer")
    link = tmp_path / "current"
    link.symlink_to(checkout.configs)
    tracker = RevisionTracker(link)
    assert tracker.read().id == checkout.git("rev-parse", "HEAD")
    swap = tmp_path / "swap"
    swap.symlink_to(clone.configs)
    swap.replace(link)  # atomic, as git-sync does
    tracker.note([str(link / "orgs" / "acme.yaml")])
    assert tracker.read().id == newer == read_revision(link).id
