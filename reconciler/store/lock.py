"""One daemon per store: an OS lock on ``<store>.lock`` that dies with its process.

The daemon takes an exclusive ``flock`` on the lock file beside the store and writes its
pid, host and start time into it. The kernel drops the lock when the process ends however it
ends (SIGKILL included), so a lock file left behind is never stale: only a held lock
counts, and its contents name the holder. The file is never deleted (deleting a lock file
lets a second process lock a new one while the first still runs); a daemon whose lock file
is deleted or replaced treats that as losing its store.

Commands other than the daemon (apply, suspend, ...) do not take this lock: SQLite
serialises their writes; they only read it to name the daemon when the store is busy.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from reconciler.clock import utc_now
from reconciler.errors import StoreError
from reconciler.store.files import FILE_MODE, FileIdentity, ensure_parent, tighten

READ_WAIT_S = 1.0  # a holder that has just locked may not have written its name yet


class StoreInUseError(StoreError):
    """Another daemon holds the store's lock."""


def lock_path(db: Path) -> Path:
    return db.with_name(db.name + ".lock")


def _describe(data: bytes) -> str:
    try:
        info = json.loads(data)
        return f"pid {int(info['pid'])} on host {info['host']}, since {info['since']}"
    except (ValueError, KeyError, TypeError):
        return "pid and host unknown"


def _read(fd: int) -> bytes:
    return os.pread(fd, 4096, 0)


def holder(db: Path) -> str | None:
    """``pid N on host H, since T`` of the daemon holding the store's lock, else ``None``."""
    try:
        fd = os.open(lock_path(db), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _describe(_read(fd))
        except OSError:
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class DaemonLock:
    """The held lock; :meth:`release` (or process exit) gives it up."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd
        st = os.fstat(fd)
        self._identity = FileIdentity(st.st_dev, st.st_ino)

    @classmethod
    def acquire(cls, db: Path) -> DaemonLock:
        """Lock the store for this daemon, or raise StoreInUseError naming the holder."""
        path = lock_path(db)
        ensure_parent(db)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        except OSError as exc:
            raise StoreError(
                f"cannot open the store's lock file {path}: {exc.strerror}",
                hint="check write permission on the store's folder",
            ) from exc
        tighten([path])
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            deadline = time.monotonic() + READ_WAIT_S
            while not (data := _read(fd)) and time.monotonic() < deadline:
                time.sleep(0.05)
            os.close(fd)
            raise StoreInUseError(
                f"store {db} is in use by another mailctl daemon ({_describe(data)})",
                hint="stop that daemon first, or give this one its own --store",
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StoreError(
                f"cannot lock the store's lock file {path}: {exc.strerror}",
                hint="put the store on a local file system",
            ) from exc
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": utc_now()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode() + b"\n", 0)
        return cls(path, fd)

    def lost(self) -> str | None:
        """Why the lock file's path no longer names the locked file, else ``None``."""
        why = self._identity.lost(self.path)
        return None if why is None else f"lock file {self.path} was {why}"

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> DaemonLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
