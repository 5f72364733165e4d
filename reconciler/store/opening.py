"""Checks and settings made when a store is opened: is it a mailctl store of a version we
know, and the WAL journal (which needs a moment of exclusive access)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from reconciler.errors import StoreError
from reconciler.store import schema


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
