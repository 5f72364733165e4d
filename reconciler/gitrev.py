"""Git: the revision id of the configs folder, and the folder as it was at a revision."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from reconciler.errors import GitError

UNVERSIONED = "unversioned"


def _git(cwd: Path, *args: str, binary: bool = False) -> bytes:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False, timeout=60)
    except FileNotFoundError as exc:
        raise GitError("git is not installed", hint="install git or pass --revision") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {args[0]} timed out", hint="check the repository") from exc
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(
            f"git {' '.join(args[:2])}: {err[-1] if err else 'failed'}",
            hint="is the configs folder inside a git repository, and the revision known?",
        )
    return proc.stdout


def repo_root(folder: Path) -> Path:
    return Path(_git(folder, "rev-parse", "--show-toplevel").decode().strip())


def revision_id(configs: Path) -> str:
    """``git rev-parse HEAD`` of the repo holding ``configs``, ``-dirty`` when files under it
    differ from HEAD (untracked ones included). ``unversioned`` outside git."""
    try:
        head = _git(configs, "rev-parse", "HEAD").decode().strip()
    except GitError:
        return UNVERSIONED
    status = _git(configs, "status", "--porcelain", "--untracked-files=normal", "--", ".")
    return f"{head}-dirty" if status.strip() else head


def export_folder(configs: Path, rev: str, dest: Path) -> Path:
    """Write the configs folder as it was at ``rev`` into ``dest``; returns the folder.

    A folder that did not exist yet at ``rev`` (the pull request that adds it) exports as
    an empty folder, so the diff shows every scope as created."""
    root = repo_root(configs)
    rel = configs.resolve().relative_to(root.resolve())
    spec = f"{rev}:{rel.as_posix()}" if str(rel) != "." else rev
    _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        _git(root, "cat-file", "-e", spec)
    except GitError:
        return dest
    data = _git(root, "archive", "--format=tar", spec)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    return dest
