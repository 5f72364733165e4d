"""The store's files on disk: private modes, the parent folder, and the file's identity.

The database and everything SQLite puts beside it (``-wal``, ``-shm``, ``-journal``), the
fingerprint key file and the daemon's lock file are private to the user running mailctl:
created 0600 whatever the umask (SQLite gives its side files the database file's mode), and
a store found with looser modes is tightened to 0600 when it is opened (a mode mailctl
cannot change is reported on stderr, once per open). A missing parent folder is created
0700 when mailctl creates a store, if its own parent exists (a mistyped deep path still
fails).

:class:`FileIdentity` is what "the same file" means: device and inode. A store whose path
no longer names the file it opened (deleted, or replaced by another file) is *lost*:
nothing may be written to it any more (the writes would go to an unlinked inode).
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import StoreError

FILE_MODE = 0o600
DIR_MODE = 0o700
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")


def side_files(db: Path) -> list[Path]:
    """The files SQLite keeps beside the database (whether they exist now or not)."""
    return [db.with_name(db.name + suffix) for suffix in SIDE_SUFFIXES]


def ensure_parent(db: Path) -> None:
    """Create the store's folder (0700) when it is missing and its parent exists."""
    parent = db.parent
    if parent.exists() or not parent.parent.is_dir():
        return
    try:
        os.mkdir(parent, DIR_MODE)
        os.chmod(parent, DIR_MODE)  # the umask may have narrowed it, never widened; be exact
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(
            f"cannot create the store folder {parent}: {exc.strerror}",
            hint="create it (mode 0700) or point --store/MAILCTL_STORE elsewhere",
        ) from exc


def create_private(db: Path) -> None:
    """Create the database file empty and 0600 unless it exists (SQLite then fills it)."""
    try:
        fd = os.open(db, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        return
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return  # SQLite reports the missing folder in its own words
        raise StoreError(
            f"cannot create the store {db}: {exc.strerror}",
            hint="check write permission on the store's folder",
        ) from exc
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def tighten(paths: list[Path]) -> list[str]:
    """Set existing files among ``paths`` that others may access to 0600.

    Returns one warning per file whose mode could not be changed (not our file)."""
    warnings = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o077:
            continue
        try:
            os.chmod(path, FILE_MODE)
        except OSError as exc:
            warnings.append(
                f"mailctl: warning: {path} is accessible to other users"
                f" (mode {stat.S_IMODE(st.st_mode):04o}) and cannot be tightened"
                f" ({exc.strerror}); run: chmod 600 {path}"
            )
    return warnings


def private_store_files(db: Path) -> None:
    """Tighten the database and its side files; warn on stderr about what stays open."""
    for line in tighten([db, *side_files(db)]):
        print(line, file=sys.stderr)


@dataclass(frozen=True, slots=True)
class FileIdentity:
    device: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileIdentity | None:
        """The identity of the file ``path`` names now; ``None`` when there is none."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        return cls(st.st_dev, st.st_ino)

    def lost(self, path: Path) -> str | None:
        """Why ``path`` no longer names this file (``None`` while it still does)."""
        now = FileIdentity.of(path)
        if now is None:
            return "deleted"
        if now != self:
            return "replaced"
        return None
