"""The revision of the configs folder for a long-running reader (the daemon), at the cost
of what changed.

:func:`reconciler.gitrev.read_revision` asks ``git status`` about the whole folder: git
then compares every tracked file with the index (about 220 ms at 100,000 files), and the
daemon recorded a revision with every one-file edit. The daemon knows which paths changed
(its watcher reports them), so :class:`RevisionTracker` reads the whole status and the
index once, keeps the set of paths that differ from ``HEAD``, and after an edit looks at
the changed paths only: a tracked file differs when its content, hashed as ``git add``
would (``git hash-object``, with the repository's filters), is not the index's blob, or
its executable bit changed, or it was staged; a new file when git does not ignore it.
Anything else (a symlink, a submodule) is asked of ``git status`` for those paths. It reads
everything again when git's own state moved (``HEAD``, the branch ref, ``packed-refs`` or
the index changed: a commit, add, pull, checkout or reset), when it was not told which
paths changed (start, resync), or when git failed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from reconciler.errors import GitError
from reconciler.gitrev import Revision, git_output, read_revision

MAX_PATHS = 256  # more changed paths at once: one full status is simpler than a long argv
_StatKey = tuple[str, tuple[tuple[int, int, int] | None, ...]]


def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _paths(status: bytes) -> tuple[set[str], set[str]]:
    """Paths (relative to the repository root) in ``git status --porcelain -z`` output (a
    rename or copy names both), and those of them whose index differs from HEAD."""
    every: set[str] = set()
    staged: set[str] = set()
    fields = status.split(b"\0")
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if len(entry) < 4:
            continue
        named = [entry[3:]]
        if entry[:1] in (b"R", b"C") and i < len(fields):
            named.append(fields[i])
            i += 1
        paths = {_decode(p) for p in named}
        every |= paths
        if entry[:1] not in (b" ", b"?", b"!"):
            staged |= paths
    return every, staged


def _index(ls_files: bytes) -> dict[str, tuple[str, str]]:
    """``git ls-files -s -z`` output: path -> (mode, blob)."""
    out: dict[str, tuple[str, str]] = {}
    for entry in ls_files.split(b"\0"):
        head, _, path = entry.partition(b"\t")
        if path:
            mode, blob, _stage = head.split(b" ")
            out[_decode(path)] = (mode.decode(), blob.decode())
    return out


class RevisionTracker:
    """``read()`` answers what :func:`read_revision` would, for the paths ``note()`` was
    told about since the last read (and git's own files, which are checked every time)."""

    def __init__(self, configs: Path) -> None:
        self.configs = configs
        self.full_reads = 0  # how often the whole folder was asked about (tests, logs)
        self.status_reads = 0  # ... and changed paths git had to judge (filters, symlinks)
        self._key: _StatKey | None = None  # git's files as they were at the last full read
        self._watch: tuple[str, ...] = ()
        self._top = ""
        self._base = ""  # the configs folder, relative to the repository root
        self._head = ""
        self._differ: set[str] = set()  # paths under configs that differ from HEAD
        self._staged: set[str] = set()  # ... of them, those whose index differs from HEAD
        self._tracked: dict[str, tuple[str, str]] = {}  # the index: path -> (mode, blob)
        self._converting_repo = False  # git may convert content: it judges every changed path
        self._noted: set[str] = set()
        self._all = True  # the next read must ask about the whole folder
        self._unversioned: Revision | None = None  # git could not tell, until the next full

    def note(self, paths: Iterable[str] | None) -> None:
        """Paths that changed (absolute); ``None``: unknown, read everything next time."""
        if paths is None:
            self._all = True
        else:
            self._noted.update(paths)

    def read(self) -> Revision:
        if self._unversioned is not None and not self._all:
            self._noted.clear()  # not a checkout (or git refused): edits do not change that
            return self._unversioned
        key = self._stat_key(self._watch)
        if self._all or key != self._key or len(self._noted) > MAX_PATHS:
            return self._read_all()
        try:
            self._read_noted()
        except GitError:
            return self._read_all()
        return Revision(f"{self._head}-dirty" if self._differ else self._head)

    # ------------------------------------------------------------------ pieces

    def _stat_key(self, watch: tuple[str, ...]) -> _StatKey | None:
        """Where the configs folder resolves to (a symlink swapped to another checkout, as
        git-sync does), and git's files there."""
        if not watch:
            return None
        return (os.path.realpath(self.configs), tuple(_stat(p) for p in watch))

    def _read_all(self) -> Revision:
        self._noted.clear()
        self._key, self._all, self._unversioned = None, True, None
        self.full_reads += 1
        try:
            watch, top = self._git_files()
            # taken before git reads: a change while it reads shows at the next read
            key = self._stat_key(watch)
            head = git_output(self.configs, "rev-parse", "--verify", "HEAD").decode().strip()
            status = git_output(
                self.configs, "status", "--porcelain", "-z", "--untracked-files=all", "--", "."
            )
            tracked = git_output(self.configs, "ls-files", "-s", "-z", "--full-name", "--", ".")
            converting = self._converting()
        except GitError:
            rev = read_revision(self.configs)  # says why, as one reader would
            if rev.reason is not None:  # kept until a full read (resync) asks again
                self._unversioned, self._all = rev, False
            return rev
        self._watch, self._top, self._head = watch, top, head
        self._base = os.path.relpath(os.path.realpath(self.configs), top)
        self._differ, self._staged = _paths(status)
        self._tracked = _index(tracked)
        self._converting_repo = converting
        self._key, self._all = key, False
        return Revision(f"{head}-dirty" if self._differ else head)

    def _git_files(self) -> tuple[tuple[str, ...], str]:
        """The files whose change means git's state moved, and the repository's root."""
        lines = (
            git_output(
                self.configs,
                "rev-parse",
                "--show-toplevel",
                "--git-path",
                "HEAD",
                "--git-path",
                "index",
                "--git-path",
                "packed-refs",
            )
            .decode()
            .splitlines()
        )
        top, files = lines[0], [os.path.join(self.configs, p) for p in lines[1:]]
        try:  # the branch HEAD names (a detached HEAD has none)
            ref = git_output(self.configs, "symbolic-ref", "-q", "HEAD").decode().strip()
            loose = git_output(self.configs, "rev-parse", "--git-path", ref).decode().strip()
            files.append(os.path.join(self.configs, loose))
        except GitError:
            pass
        return tuple(files), os.path.realpath(top)

    def _read_noted(self) -> None:
        noted, self._noted = self._noted, set()
        rels = []
        for path in noted:  # only paths under the configs folder count, as in _read_all
            rel = os.path.relpath(os.path.realpath(path), self._top)
            if self._base == "." or rel == self._base or rel.startswith(self._base + os.sep):
                rels.append(rel)
        if not rels:
            return
        if any(os.path.basename(r) == ".gitattributes" for r in rels):
            raise GitError("an attributes file changed")  # read() reads everything again
        prefixes = tuple(r + "/" for r in rels)
        under = set(rels)
        files = self._files(rels, prefixes)
        try:
            differ = self._differing(files)
        except _AskGit:
            differ = self._ask_status(rels)
        self._differ = {p for p in self._differ if p not in under and not p.startswith(prefixes)}
        self._differ |= differ

    def _files(self, rels: list[str], prefixes: tuple[str, ...]) -> set[str]:
        """The files the changed paths stand for: themselves, or what a changed folder
        holds now or held in the index."""
        files: set[str] = set()
        for rel in rels:
            full = os.path.join(self._top, rel)
            if os.path.isdir(full) and not os.path.islink(full):
                for folder, _dirs, names in os.walk(full):
                    files.update(os.path.relpath(os.path.join(folder, n), self._top) for n in names)
            else:
                files.add(rel)
        if any(os.path.isdir(os.path.join(self._top, r)) or r not in self._tracked for r in rels):
            files.update(p for p in self._tracked if p.startswith(prefixes))
        return files

    def _differing(self, files: set[str]) -> set[str]:
        """Which of ``files`` differ from HEAD (raises _AskGit for what only git can tell)."""
        differ = {p for p in files if p in self._staged}
        hash_these: list[str] = []
        new: list[str] = []
        for path in sorted(files - differ):
            full = os.path.join(self._top, path)
            entry = self._tracked.get(path)
            if os.path.islink(full) or (entry is not None and entry[0] not in _PLAIN):
                raise _AskGit
            if entry is None:
                if os.path.isfile(full):
                    new.append(path)
            elif not os.path.isfile(full):
                differ.add(path)  # deleted
            elif (os.stat(full).st_mode & 0o100 != 0) != (entry[0] == "100755"):
                differ.add(path)  # the executable bit (core.fileMode)
            else:
                hash_these.append(path)
        if hash_these:
            if self._converting_repo:
                raise _AskGit
            blobs = self._stdin(["hash-object", "--stdin-paths"], hash_these, b"\n")
            got = blobs.decode().split()
            if len(got) != len(hash_these):
                raise _AskGit
            differ.update(
                p for p, b in zip(hash_these, got, strict=True) if b != self._tracked[p][1]
            )
        if new:
            ignored = self._stdin(["check-ignore", "--no-index", "--stdin", "-z"], new, b"\0")
            differ.update(set(new) - {_decode(p) for p in ignored.split(b"\0") if p})
        return differ

    def _converting(self) -> bool:
        """Whether git may convert content (core.autocrlf, or any attributes file: eol,
        text and filters make git status judge content in ways a hash does not repeat)."""
        autocrlf = git_output(self.configs, "config", "core.autocrlf", ok=(0, 1))
        if autocrlf.strip().lower() not in (b"", b"false"):
            return True
        found = git_output(
            self.configs,
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            ":(top,glob)**/.gitattributes",
        )
        if found.strip(b"\0"):
            return True
        info = git_output(self.configs, "rev-parse", "--git-path", "info/attributes")
        user = git_output(self.configs, "config", "--path", "core.attributesFile", ok=(0, 1))
        xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
        candidates = [
            os.path.join(self.configs, info.decode().strip()),
            os.path.join(xdg, "git", "attributes"),
        ]
        if user.strip():
            candidates.append(user.decode().strip())
        return any(os.path.exists(c) for c in candidates)

    def _stdin(self, args: list[str], paths: list[str], sep: bytes) -> bytes:
        """git with ``paths`` (relative to the root) on its standard input."""
        data = sep.join(p.encode("utf-8", "surrogateescape") for p in paths) + sep
        return git_output(Path(self._top), *args, stdin=data, ok=(0, 1))

    def _ask_status(self, rels: list[str]) -> set[str]:
        self.status_reads += 1
        out = git_output(
            self.configs,
            "--literal-pathspecs",
            "status",
            "--porcelain",
            "-z",
            "--untracked-files=all",
            "--",
            *(os.path.join(self._top, r) for r in rels),
        )
        return _paths(out)[0]


_PLAIN = ("100644", "100755")


class _AskGit(Exception):
    """A path only ``git status`` can judge (a symlink, a submodule)."""
