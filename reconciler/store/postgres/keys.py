"""The fingerprint key of a PostgreSQL store: in a 0600 file, never in the database.

As with SQLite (DESIGN §8), a copy of the database alone must allow no offline password
guessing, so the HMAC key of secret fingerprints lives in a file and the database holds only
its check value. A database has no "beside the store" folder, so the file is named by
``MAILCTL_FINGERPRINT_KEY_FILE`` (required for PostgreSQL); every server sharing the store
needs the same key file (e.g. through systemd ``LoadCredential=``, see docs/postgresql.md).
The first mailctl to open a new store creates the key; the others load it and compare it
with the check value. Without the variable the commands that need no key (``status``,
``history``) still work; those that do fail with one line saying what to set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.errors import StoreError
from reconciler.store.sqlite import keyfile

if TYPE_CHECKING:
    from reconciler.store.postgres.store import PgStore


class _Qmark:
    """The keyfile module's SQL (``?`` placeholders) on a psycopg connection."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, text: str, params: Any = ()) -> Any:
        return self._conn.execute(text.replace("?", "%s"), params)


def key_file() -> Path | None:
    configured = os.environ.get(keyfile.KEY_FILE_ENV, "").strip()
    return Path(configured) if configured else None


def settle_key(store: PgStore, new_key: bool) -> tuple[bytes | None, StoreError | None]:
    """The key (or why it cannot be had), creating it for a new store."""
    path = key_file()
    if path is None:
        return None, StoreError(
            f"store {store.location}: a PostgreSQL store needs its fingerprint key file named"
            f" by {keyfile.KEY_FILE_ENV}",
            hint=f"set {keyfile.KEY_FILE_ENV}=/path/to/mailctl.key (0600; the same file on"
            " every server sharing the store); see docs/postgresql.md",
        )
    try:
        with store._read("read fingerprint key") as conn:
            state = keyfile.KeyState.read(_Qmark(conn))  # type: ignore[arg-type]
        if state.settled and not new_key:
            return keyfile.load(path, state), None
        with store.write_unfenced("store fingerprint key") as conn, store._guard("store key"):
            return keyfile.settle(_Qmark(conn), path, new_key=new_key), None  # type: ignore[arg-type]
    except StoreError as exc:
        return None, exc
