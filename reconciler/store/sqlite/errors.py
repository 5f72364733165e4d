"""``sqlite3`` failures as the store's typed errors, one line each with a hint."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from reconciler.errors import StoreCorruptError, StoreError, StoreLockedError

LOCK_HINT = "nothing is wrong with the store: retry, or raise --lock-timeout"
CORRUPT_HINT = "restore it from a backup or move it away; `mailctl apply` creates a new store"


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def map_error(exc: sqlite3.Error, path: Path, action: str, lock_timeout_s: float) -> StoreError:
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = one_line(exc)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
        from reconciler.store.lock import holder

        daemon = holder(path)
        who = f"; the mailctl daemon ({daemon}) uses this store" if daemon else ""
        return StoreLockedError(
            f"store {path} is busy: another mailctl process (apply, rollback, suspend or"
            f" the daemon) is writing to it (waited {lock_timeout_s:g} s){who}",
            hint=LOCK_HINT,
        )
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "not a database" in text:
        return StoreCorruptError(
            f"store {path} is not a valid mailctl store ({text})", hint=CORRUPT_HINT
        )
    hint = "check the store file and its directory"
    if name.startswith("SQLITE_READONLY"):
        hint = "check write permission on the store file and its directory"
    elif name.startswith("SQLITE_CANTOPEN"):
        hint = "check that the store's directory exists and is writable"
    elif name.startswith("SQLITE_FULL"):
        hint = "free disk space"
    elif name.startswith("SQLITE_CONSTRAINT"):
        hint = "this is a mailctl bug: the data broke a store constraint; please report it"
    return StoreError(f"store {path}: {action} failed: {text}", hint=hint)
