"""Git: the revision id of the configs folder, and the folder as it was at a revision.

The revision is recorded with every apply. When git cannot tell it (no repository, git not
installed, a repository git refuses to read because another user owns it — the
``safe.directory`` check that bites the documented systemd set-up, where the service user
is not the owner of the checkout), the revision is ``unversioned`` and :class:`Revision`
says why, so the caller can warn once instead of recording ``unversioned`` silently.
"""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import GitError

UNVERSIONED = "unversioned"
_DUBIOUS = re.compile(r"detected dubious ownership in repository at '(?P<path>[^']*)'")


@dataclass(frozen=True, slots=True)
class Revision:
    """A revision id and, when it is ``unversioned`` or incomplete, the reason and a hint."""

    id: str
    reason: str | None = None
    hint: str | None = None

    @property
    def warning(self) -> str | None:
        """One line for users: what was recorded and why (``None`` when git answered)."""
        if self.reason is None:
            return None
        return f"revision recorded as '{self.id}': {self.reason}"


def _refusal(stderr: str) -> GitError | None:
    """git's ``safe.directory`` refusal as a clear error with the two ways out."""
    m = _DUBIOUS.search(stderr)
    if m is None:
        return None
    where = m.group("path")
    return GitError(
        f"git refuses to read the repository at {where}: it is owned by another user "
        "(git's safe.directory check, 'detected dubious ownership')",
        hint=f"run 'git config --global --add safe.directory {where}' as this user, "
        "or pass --revision",
    )


# --no-optional-locks, git(1): for "processes running in the background which do not want
# to cause lock contention with other operations on the repository". Without it ``git
# status`` refreshes the index under ``index.lock``: an operator's ``git commit`` in the
# watched checkout then fails with "Unable to create index.lock: File exists". (An option,
# not GIT_OPTIONAL_LOCKS=0 in a copied environment: with one password variable per org the
# environment holds 20,000 entries at 100,000 orgs, and copying it cost more than git.)
def git_output(
    cwd: Path, *args: str, stdin: bytes | None = None, ok: tuple[int, ...] = (0,)
) -> bytes:
    """git's standard output; a GitError (with git's last line) for an exit code not in
    ``ok``."""
    try:
        proc = subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=cwd,
            input=stdin,
            capture_output=True,
            check=False,
            timeout=60,
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed", hint="install git or pass --revision") from exc
    except NotADirectoryError as exc:
        raise GitError(f"{cwd} is not a folder", hint="pass --configs DIR") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {args[0]} timed out", hint="check the repository") from exc
    if proc.returncode not in ok:
        text = proc.stderr.decode("utf-8", "replace")
        refused = _refusal(text)
        if refused is not None:
            raise refused
        err = text.strip().splitlines()
        raise GitError(
            f"git {' '.join(args[:2])}: {err[-1] if err else 'failed'}",
            hint="is the configs folder inside a git repository, and the revision known?",
        )
    return proc.stdout


def repo_root(folder: Path) -> Path:
    return Path(git_output(folder, "rev-parse", "--show-toplevel").decode().strip())


def _unreadable(configs: Path, exc: GitError) -> Revision:
    text = exc.message
    if "not a git repository" in text:
        return Revision(
            UNVERSIONED,
            f"{configs} is not inside a git repository",
            "keep the configs folder in git, or pass --revision",
        )
    if "Needed a single revision" in text or "unknown revision" in text:
        return Revision(
            UNVERSIONED,
            f"the git repository holding {configs} has no commits yet",
            "commit the manifests, or pass --revision",
        )
    return Revision(UNVERSIONED, text, exc.hint or "pass --revision")


def read_revision(configs: Path) -> Revision:
    """``git rev-parse HEAD`` of the repo holding ``configs``, ``-dirty`` when files under it
    differ from HEAD (untracked ones included); ``unversioned`` with the reason when git
    cannot tell."""
    try:
        head = git_output(configs, "rev-parse", "--verify", "HEAD").decode().strip()
    except GitError as exc:
        return _unreadable(configs, exc)
    try:
        status = git_output(configs, "status", "--porcelain", "--untracked-files=normal", "--", ".")
    except GitError as exc:
        return Revision(head, f"cannot tell whether {configs} differs from HEAD: {exc.message}")
    return Revision(f"{head}-dirty" if status.strip() else head)


def revision_id(configs: Path) -> str:
    """The revision id alone (``unversioned`` outside git); see :func:`read_revision`."""
    return read_revision(configs).id


def export_folder(configs: Path, rev: str, dest: Path) -> Path:
    """Write the configs folder as it was at ``rev`` into ``dest``; returns the folder.

    A folder that did not exist yet at ``rev`` (the pull request that adds it) exports as
    an empty folder, so the diff shows every scope as created."""
    root = repo_root(configs)
    rel = configs.resolve().relative_to(root.resolve())
    spec = f"{rev}:{rel.as_posix()}" if str(rel) != "." else rev
    git_output(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        git_output(root, "cat-file", "-e", spec)
    except GitError:
        return dest
    data = git_output(root, "archive", "--format=tar", spec)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    return dest
