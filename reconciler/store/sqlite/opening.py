"""Checks and settings made when a store is opened: the arguments and the files (private,
see :mod:`.files`), whether it is a mailctl store of a version we know, and the WAL journal
(which needs a moment of exclusive access)."""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path

from reconciler.errors import StoreError
from reconciler.store import files
from reconciler.store.sqlite import schema

MAX_LOCK_TIMEOUT_S = 86_400.0


def prepare(p: Path, *, create: bool, lock_timeout_s: float) -> str:
    """Check the arguments, make the store's files private; the SQLite URI to open."""
    if not math.isfinite(lock_timeout_s) or not 0 <= lock_timeout_s <= MAX_LOCK_TIMEOUT_S:
        raise StoreError(
            f"lock timeout {lock_timeout_s!r} is not a number of seconds",
            hint=f"use 0..{MAX_LOCK_TIMEOUT_S:g} seconds",
        )
    if p.is_dir():
        raise StoreError(f"store {p} is a directory", hint="pass a file path to --store")
    if not create and not p.exists():
        raise StoreError(
            f"store {p} does not exist",
            hint="run `mailctl apply` first, or point --store/MAILCTL_STORE at the store",
        )
    if create:
        files.ensure_parent(p)
        files.create_private(p)
    files.private_store_files(p)
    return p.absolute().as_uri() + ("?mode=rwc" if create else "?mode=rw")


def enable_wal(conn: sqlite3.Connection, path: Path, lock_timeout_s: float) -> None:
    """Switch to WAL; that needs a moment of exclusive access, so retry until timeout.

    (SQLite answers a busy journal-mode change at once, without its busy handler.)
    """
    deadline = time.monotonic() + lock_timeout_s
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            break
        except sqlite3.OperationalError as exc:
            busy = (getattr(exc, "sqlite_errorname", "") or "").startswith("SQLITE_BUSY")
            if not busy or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)
    if mode != "wal":
        raise StoreError(
            f"store {path}: cannot enable the WAL journal (got {mode!r})",
            hint="put the store on a local file system",
        )


def check_version(conn: sqlite3.Connection, path: Path) -> int:
    """The store's schema version; StoreError if newer than ours or not a mailctl store."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > schema.SCHEMA_VERSION:
        raise StoreError(
            f"store {path} has schema version {version}; this mailctl knows up to"
            f" {schema.SCHEMA_VERSION}",
            hint="upgrade mailctl",
        )
    foreign = app_id not in (0, schema.APPLICATION_ID)
    if not foreign and app_id == 0:
        tables = conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
        foreign = tables > 0
    if foreign:
        raise StoreError(
            f"{path} is an SQLite database but not a mailctl store",
            hint="point --store at a mailctl store or at a new file",
        )
    return version
