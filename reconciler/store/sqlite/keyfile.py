"""The fingerprint key file: the HMAC key of secret fingerprints, kept out of the database.

A fingerprint is an HMAC of a secret under a per-store random key. With the key inside the
database, a copy of the database would allow offline password guessing; so the key lives in
its own 0600 file, ``<store>.key`` beside the store (or ``MAILCTL_FINGERPRINT_KEY_FILE``):
64 hex digits and a newline. The database holds only a *check* value (an HMAC of a constant
under the key), which tells a wrong or missing key file apart from a new store and reveals
nothing about the key or any secret.

Files are written to a private temporary file, synced, and hard-linked into place, so two
processes creating the key at once agree on one key and a crash never leaves half a key.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import StoreError
from reconciler.store.files import FILE_MODE, tighten

KEY_FILE_ENV = "MAILCTL_FINGERPRINT_KEY_FILE"
META_KEY = "fingerprint_key"  # where stores made before the key file kept the key
META_CHECK = "fingerprint_key_check"
KEY_BYTES = 32
_CHECK_LABEL = b"mailctl fingerprint key check v1"


def key_path(db: Path) -> Path:
    """Where the store's key lives: ``MAILCTL_FINGERPRINT_KEY_FILE`` or ``<store>.key``."""
    configured = os.environ.get(KEY_FILE_ENV, "").strip()
    return Path(configured) if configured else db.with_name(db.name + ".key")


def key_check(key: bytes) -> str:
    """A value that identifies the key without revealing it (stored in the database)."""
    return hmac.new(key, _CHECK_LABEL, hashlib.sha256).hexdigest()[:32]


def _bad_key(path: Path, why: str) -> StoreError:
    return StoreError(
        f"fingerprint key file {path} {why}",
        hint=f"restore the key file made with this store (or set {KEY_FILE_ENV} to it)",
    )


def read_key(path: Path) -> bytes | None:
    """The key in ``path`` (tightened to 0600); ``None`` when there is no such file."""
    if tighten([path]):
        raise StoreError(
            f"fingerprint key file {path} is readable by other users and mailctl cannot"
            " change that",
            hint=f"run: chmod 600 {path} (as its owner)",
        )
    try:
        with open(path, "rb") as fh:
            data = fh.read(4 * KEY_BYTES)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _bad_key(path, f"cannot be read: {exc.strerror}") from exc
    try:
        key = bytes.fromhex(data.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise _bad_key(path, f"does not hold a key ({2 * KEY_BYTES} hex digits)")
    return key


def write_key(path: Path, key: bytes) -> bytes:
    """Create ``path`` (0600) holding ``key`` unless it exists; return the key it holds."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)
            os.write(fd, key.hex().encode("ascii") + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(FileExistsError):  # another process was first: use theirs
            os.link(tmp, path)
        _sync_dir(path.parent)
    except OSError as exc:
        raise StoreError(
            f"cannot write the fingerprint key file {path}: {exc.strerror}",
            hint=f"check write permission on {path.parent} (or set {KEY_FILE_ENV})",
        ) from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    found = read_key(path)
    if found is None:
        raise _bad_key(path, "vanished while it was written")
    return found


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------- in the store

_SELECT_STATE = (
    "SELECT (SELECT value FROM meta WHERE key = ?), (SELECT value FROM meta WHERE key = ?),"
    " EXISTS (SELECT 1 FROM scopes WHERE fingerprint IS NOT NULL)"
)
_SET = (
    "INSERT INTO meta (key, value) VALUES (?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


@dataclass(frozen=True, slots=True)
class KeyState:
    """What the database says about its key."""

    legacy: str | None  # the key itself, hex: a store made before the key file existed
    check: str | None  # key_check of the key in use
    fingerprints: bool  # some scope carries a fingerprint made with the key

    @classmethod
    def read(cls, conn: sqlite3.Connection) -> KeyState:
        legacy, check, fps = conn.execute(_SELECT_STATE, (META_KEY, META_CHECK)).fetchone()
        return cls(legacy, check, bool(fps))

    @property
    def settled(self) -> bool:
        """Nothing to write: the key is out of the database and its check is recorded."""
        return self.legacy is None and self.check is not None


def _missing(path: Path) -> StoreError:
    return StoreError(
        f"fingerprint key file {path} is missing, and the store holds secret fingerprints"
        " made with it",
        hint=f"restore {path} from the backup of this store (or set {KEY_FILE_ENV} to it);"
        " if it is lost for good, `mailctl apply --new-fingerprint-key` makes a new key"
        " (every secret then shows as changed once)",
    )


def _other(path: Path) -> StoreError:
    return _bad_key(path, "holds a different key than the one this store was made with")


def load(path: Path, state: KeyState) -> bytes:
    """The key of a settled store (no writes)."""
    key = read_key(path)
    if key is None:
        raise _missing(path)
    if key_check(key) != state.check:
        raise _other(path)
    return key


def settle(conn: sqlite3.Connection, path: Path, *, new_key: bool = False) -> bytes:
    """Inside the caller's write transaction: move a key out of the database into ``path``,
    or create the key of a new store, record the check, and return the key.

    ``new_key`` replaces a lost key: fingerprints made with it are cleared (they show as
    changed once)."""
    state = KeyState.read(conn)
    if state.legacy is not None:
        try:
            key = bytes.fromhex(state.legacy)
        except ValueError:
            key = b""
        if len(key) != KEY_BYTES:
            raise StoreError(
                "the store's fingerprint key is damaged",
                hint="restore the store from a backup",
            )
        existing = read_key(path)
        if (existing if existing is not None else write_key(path, key)) != key:
            raise _other(path)
        conn.execute("DELETE FROM meta WHERE key = ?", (META_KEY,))
    else:
        key = read_key(path) or b""
        if key and state.check is not None and key_check(key) != state.check and not new_key:
            raise _other(path)
        if not key:
            if (state.check is not None or state.fingerprints) and not new_key:
                raise _missing(path)
            key = write_key(path, secrets.token_bytes(KEY_BYTES))
        if new_key and state.check is not None and key_check(key) != state.check:
            conn.execute("UPDATE scopes SET fingerprint = NULL WHERE fingerprint IS NOT NULL")
    conn.execute(_SET, (META_CHECK, key_check(key)))
    return key
