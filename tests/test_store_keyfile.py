"""The fingerprint key file (reconciler.store.sqlite.keyfile): never in the database, migrated out
of stores made before, and never silently replaced."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from reconciler.errors import StoreError
from reconciler.secrets import fingerprint
from reconciler.store import ScopeRecord, open_store
from reconciler.store.sqlite.keyfile import KEY_FILE_ENV, META_CHECK, META_KEY, key_check

PASSWORD = "demo-password-123"


def key_file(db: Path) -> Path:
    return db.with_name(db.name + ".key")


def store_bytes(db: Path) -> bytes:
    """Everything a copy of the database would hold (the file and its side files)."""
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*") if p != key_file(db))


def meta(db: Path) -> dict[str, str]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT key, value FROM meta").fetchall())
    finally:
        conn.close()


def with_fingerprint(db: Path, key: bytes) -> ScopeRecord:
    rec = ScopeRecord("host", "custom", {"mode": "custom"}, {}, {}, fingerprint(key, PASSWORD))
    with open_store(db) as st, st.transaction() as tx:
        tx.upsert(rec)
    return rec


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    return tmp_path / "mailctl.db"


def test_key_lives_in_its_own_file_and_never_in_the_database(db: Path) -> None:
    with open_store(db) as st:
        key = st.fingerprint_key()
        rec = with_fingerprint(db, key)
    assert key_file(db).read_text() == key.hex() + "\n"
    assert META_KEY not in meta(db)
    assert meta(db)[META_CHECK] == key_check(key)
    data = store_bytes(db)
    assert rec.fingerprint is not None and rec.fingerprint.encode() in data  # it is stored
    assert key.hex().encode() not in data and key not in data  # but not the key
    with open_store(db, create=False) as st:
        assert st.fingerprint_key() == key


def old_format_store(db: Path) -> tuple[bytes, ScopeRecord]:
    """A store as mailctl made it before the key file: the key in ``meta``."""
    with open_store(db) as st:
        key = st.fingerprint_key()
    rec = with_fingerprint(db, key)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (META_KEY, key.hex()))
        conn.execute("DELETE FROM meta WHERE key = ?", (META_CHECK,))
    conn.close()
    key_file(db).unlink()
    assert key.hex().encode() in store_bytes(db)
    return key, rec


def test_old_store_is_migrated_key_moves_out(db: Path) -> None:
    key, rec = old_format_store(db)
    with open_store(db, create=False) as st:
        assert st.fingerprint_key() == key  # same key: no secret shows as changed
        assert st.get("host") == rec
    assert key_file(db).read_text() == key.hex() + "\n"
    assert META_KEY not in meta(db)
    assert key.hex().encode() not in store_bytes(db)  # not in the file, WAL or free pages


def test_old_store_with_a_different_key_file_is_refused(db: Path, tmp_path: Path) -> None:
    old_format_store(db)
    with open_store(tmp_path / "other.db") as other:
        key_file(db).write_bytes(key_file(tmp_path / "other.db").read_bytes())
        assert other.fingerprint_key()
    with open_store(db) as st, pytest.raises(StoreError) as err:
        st.fingerprint_key()
    assert "different key" in str(err.value)
    assert META_KEY in meta(db)  # nothing lost: the old key stays until it can move


def test_missing_key_file_with_fingerprints_is_an_error_not_a_rotation(db: Path) -> None:
    with open_store(db) as st:
        with_fingerprint(db, st.fingerprint_key())
    key_file(db).unlink()
    with open_store(db) as st:
        assert "host" in st.scopes()  # status and history still work
        with pytest.raises(StoreError) as err:
            st.fingerprint_key()
    assert "is missing" in str(err.value) and "\n" not in str(err.value)
    assert err.value.hint and "restore" in err.value.hint
    assert not key_file(db).exists()  # no new key made behind the user's back


def test_new_key_replaces_a_lost_one_and_clears_fingerprints(db: Path) -> None:
    with open_store(db) as st:
        old = st.fingerprint_key()
        with_fingerprint(db, old)
    key_file(db).unlink()
    with open_store(db, new_key=True) as st:
        new = st.fingerprint_key()
        host = st.get("host")
    assert new != old and host is not None and host.fingerprint is None
    with open_store(db) as st:
        assert st.fingerprint_key() == new


def test_key_file_of_another_store_is_refused(db: Path, tmp_path: Path) -> None:
    with open_store(db):
        pass
    with open_store(tmp_path / "b.db"):
        pass
    key_file(db).write_bytes(key_file(tmp_path / "b.db").read_bytes())
    with open_store(db) as st, pytest.raises(StoreError, match="different key"):
        st.fingerprint_key()


@pytest.mark.parametrize("content", [b"", b"not hex\n", b"ab" * 16 + b"\n"])
def test_damaged_key_file_is_refused(db: Path, content: bytes) -> None:
    with open_store(db):
        pass
    key_file(db).write_bytes(content)
    with open_store(db) as st, pytest.raises(StoreError, match="does not hold a key"):
        st.fingerprint_key()


def test_key_file_location_from_the_environment(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "keys" / "mailctl.key"
    elsewhere.parent.mkdir()
    monkeypatch.setenv(KEY_FILE_ENV, str(elsewhere))
    with open_store(db) as st:
        key = st.fingerprint_key()
    assert elsewhere.read_text() == key.hex() + "\n"
    assert not key_file(db).exists()
    assert elsewhere.stat().st_mode & 0o777 == 0o600
