"""``reconciler.gitrev``: the revision of the configs folder, and a warning with the reason
whenever git cannot tell it — never a silent ``unversioned``. The ``safe.directory`` case
is real: the repository is chowned to another uid (the tests run as root)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.errors import GitError
from reconciler.gitrev import UNVERSIONED, export_folder, read_revision
from tests import manifests
from tests.fixtures_daemon import DaemonProc, SinkProc, atomic_write, write_configs
from tests.fixtures_repo import GIT_ENV, ConfigRepo

OTHER_UID = 12345


@pytest.fixture(name="git_home")
def git_home_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty global git config: no safe.directory exception from the machine leaks in."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    return home


def _repo(root: Path) -> ConfigRepo:
    r = ConfigRepo(root)
    root.mkdir(parents=True)
    r.git("init", "-q", "-b", "main")
    r.write("host.yaml", manifests.host())
    r.write("orgs/acme.yaml", manifests.org("acme"))
    return r


@pytest.fixture(name="foreign_repo")
def foreign_repo_fixture(tmp_path: Path, git_home: Path) -> ConfigRepo:
    """A committed repository owned by another user: git's 'dubious ownership' refusal."""
    if os.geteuid() != 0:
        pytest.skip("chown to another uid needs root")
    r = _repo(tmp_path / "repo")
    r.commit("initial")
    for path in [r.root, *r.root.rglob("*")]:
        os.lchown(path, OTHER_UID, OTHER_UID)
    return r


def _mailctl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if not k.startswith("MAILCTL_")},
        timeout=60,
        check=False,
    )


def test_committed_repo_has_a_revision_and_no_warning(tmp_path: Path, git_home: Path) -> None:
    r = _repo(tmp_path / "repo")
    head = r.commit()
    assert read_revision(r.configs).id == head
    assert read_revision(r.configs).warning is None
    r.write("orgs/new.yaml", manifests.org("new"))
    dirty = read_revision(r.configs)
    assert (dirty.id, dirty.warning) == (f"{head}-dirty", None)


@pytest.mark.parametrize(
    ("case", "reason", "hint"),
    [
        ("not-a-repo", "is not inside a git repository", "pass --revision"),
        ("no-commits", "has no commits yet", "commit the manifests"),
        ("no-git", "git is not installed", "install git or pass --revision"),
    ],
)
def test_unreadable_revision_says_why(
    case: str,
    reason: str,
    hint: str,
    tmp_path: Path,
    git_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if case == "not-a-repo":
        configs = tmp_path / "configs"
        configs.mkdir()
    else:
        configs = _repo(tmp_path / "repo").configs
    if case == "no-git":
        monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    rev = read_revision(configs)
    assert rev.id == UNVERSIONED
    assert rev.reason is not None and reason in rev.reason
    assert rev.hint is not None and hint in rev.hint
    assert rev.warning == f"revision recorded as 'unversioned': {rev.reason}"


def test_safe_directory_refusal_is_named_with_both_ways_out(foreign_repo: ConfigRepo) -> None:
    rev = read_revision(foreign_repo.configs)
    assert rev.id == UNVERSIONED
    assert rev.reason is not None and "dubious ownership" in rev.reason
    assert rev.hint == (
        f"run 'git config --global --add safe.directory {foreign_repo.root}' as this user, "
        "or pass --revision"
    )
    with pytest.raises(GitError, match="owned by another user") as err:
        export_folder(foreign_repo.configs, "HEAD", foreign_repo.root.parent / "out")
    assert err.value.hint is not None and "safe.directory" in err.value.hint


def test_apply_warns_once_and_still_records_unversioned(
    foreign_repo: ConfigRepo, tmp_path: Path, git_home: Path
) -> None:
    store = tmp_path / "state.db"
    args = ("apply", "--configs", str(foreign_repo.configs), "--store", str(store))
    proc = _mailctl(*args, "--probe", "off", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    warning = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert warning == [
        "mailctl: warning: revision recorded as 'unversioned': git refuses to read the "
        f"repository at {foreign_repo.root}: it is owned by another user (git's "
        "safe.directory check, 'detected dubious ownership')"
    ]
    assert f"hint: run 'git config --global --add safe.directory {foreign_repo.root}'" in (
        proc.stderr
    )
    assert "at revision unversioned" in proc.stdout
    assert "Traceback" not in proc.stderr

    # The way out the hint names works: the revision is git's again.
    subprocess.run(
        ["git", "config", "--global", "--add", "safe.directory", str(foreign_repo.root)],
        check=True,
    )
    fixed = read_revision(foreign_repo.configs)
    assert fixed.warning is None and len(fixed.id) == 40

    # --revision needs no git at all, and says nothing.
    quiet = _mailctl(*args, "--probe", "off", "--revision", "r2", cwd=tmp_path)
    assert quiet.returncode == 0 and "warning" not in quiet.stderr


def test_apply_with_log_format_emits_the_warning_as_an_event(
    foreign_repo: ConfigRepo, tmp_path: Path
) -> None:
    proc = _mailctl(
        "apply",
        "--configs",
        str(foreign_repo.configs),
        "--store",
        str(tmp_path / "s.db"),
        "--probe",
        "off",
        "--log-format",
        "json",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stderr.splitlines()]
    unversioned = [e for e in events if e["event"] == "revision.unversioned"]
    assert len(unversioned) == 1
    assert unversioned[0]["level"] == "warning"
    assert "dubious ownership" in unversioned[0]["reason"]
    assert "safe.directory" in unversioned[0]["hint"]


def test_daemon_logs_the_reason_once_not_per_reconcile(
    tmp_path: Path, sink: SinkProc, start_daemon: Callable[..., DaemonProc]
) -> None:
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    configs = write_configs(tmp_path, sink.port)  # a plain folder: not in any repository
    d = start_daemon(configs, revision=None)
    first = d.wait_event("reconcile.finished")
    assert first["revision"] == UNVERSIONED
    atomic_write(configs / "orgs" / "acme.yaml", manifests.org("acme", probe_to="x@acme.example"))
    d.wait_event("reconcile.finished", after=1)
    events = d.events("revision.unversioned")
    assert len(events) == 1, events
    assert "is not inside a git repository" in events[0]["reason"]
    assert events[0]["hint"] == "keep the configs folder in git, or pass --revision"


def test_reading_the_revision_never_writes_the_index(tmp_path: Path, git_home: Path) -> None:
    """The daemon reads the revision while operators commit in the same checkout: it must
    not refresh the index (that takes ``index.lock``, and a concurrent ``git commit`` or
    ``git update-index`` fails with "index.lock: File exists"). A file rewritten with the
    same bytes has stale stat data in the index, which a plain ``git status`` rewrites."""
    r = _repo(tmp_path / "repo")
    r.commit()
    host = r.configs / "host.yaml"
    os.utime(host, ns=(host.stat().st_atime_ns, host.stat().st_mtime_ns + 5_000_000_000))
    index = r.root / ".git" / "index"
    before = (index.stat().st_ino, index.stat().st_mtime_ns, index.read_bytes())
    assert not read_revision(r.configs).id.endswith("-dirty")
    assert (index.stat().st_ino, index.stat().st_mtime_ns, index.read_bytes()) == before
    r.git("status", "--porcelain")  # the check can fail: git itself does refresh it
    assert index.read_bytes() != before[2]
