"""The store's files on disk (reconciler.store.files): private modes whatever the umask,
the folder mailctl creates, tightening of loose stores, and losing the file while open."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.errors import StoreError, StoreLostError
from reconciler.store import ScopeRecord, open_store
from reconciler.store.files import FileIdentity

HOST = ScopeRecord("host", "default", {"mode": "default"}, {}, {}, fingerprint="f" * 32)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(params=[0o000, 0o022], ids=["umask000", "umask022"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_new_store_files_are_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    db = tmp_path / "state" / "mailctl.db"  # the folder too is made by mailctl
    with open_store(db) as st:
        with st.transaction() as tx:
            tx.upsert(HOST)
        # while open, WAL and shared-memory files exist beside the database
        present = [p for p in db.parent.iterdir() if p.is_file()]
        names = {p.name for p in present}
        assert {"mailctl.db", "mailctl.db-wal", "mailctl.db-shm", "mailctl.db.key"} <= names
        assert {p.name: mode(p) for p in present} == dict.fromkeys(names, 0o600)
    assert mode(db.parent) == 0o700
    assert mode(db) == 0o600


def test_existing_folder_keeps_its_mode(tmp_path: Path, umask: int) -> None:
    tmp_path.chmod(0o755)
    with open_store(tmp_path / "mailctl.db"):
        pass
    assert mode(tmp_path) == 0o755


def test_loose_store_is_tightened_on_open(tmp_path: Path) -> None:
    db = tmp_path / "mailctl.db"
    with open_store(db) as st, st.transaction() as tx:
        tx.upsert(HOST)
    loose = [db, Path(f"{db}.key")]
    for path in loose:
        path.chmod(0o644)
    with open_store(db, create=False) as st:
        assert st.get("host") == HOST
        for path in [*loose, Path(f"{db}-wal"), Path(f"{db}-shm")]:
            assert mode(path) == 0o600, path


def test_missing_store_folder_is_created_one_level_only(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        open_store(tmp_path / "a" / "b" / "mailctl.db")
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_lost_store_refuses_writes(tmp_path: Path, how: str) -> None:
    db = tmp_path / "mailctl.db"
    with open_store(db) as st:
        assert st.lost() is None
        if how == "deleted":
            db.unlink()
        else:
            other = tmp_path / "other.db"
            open_store(other).close()
            os.replace(other, db)
        assert st.lost() == f"store file {db} was {how}"
        with pytest.raises(StoreLostError) as err, st.transaction() as tx:
            tx.upsert(HOST)
        assert "not written" in str(err.value) and err.value.hint
        with pytest.raises(StoreLostError):
            st.set_suspended("maintenance", "test")
    if how == "replaced":
        with open_store(db, create=False) as fresh:  # the replacement was not written to
            assert fresh.scopes() == {} and not fresh.suspension().suspended


def test_file_identity_follows_the_path(tmp_path: Path) -> None:
    a = tmp_path / "a"
    a.mkdir()
    ident = FileIdentity.of(a)
    assert ident is not None and ident.lost(a) is None
    a.rmdir()
    assert ident.lost(a) == "deleted"
    a.mkdir()
    assert FileIdentity.of(a) != ident or ident.lost(a) is None  # inode may be reused


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -1.0, 1e9])
def test_lock_timeout_must_be_sane(tmp_path: Path, timeout: float) -> None:
    with pytest.raises(StoreError) as err:
        open_store(tmp_path / "mailctl.db", lock_timeout_s=timeout)
    assert "seconds" in str(err.value.hint)
    assert not (tmp_path / "mailctl.db").exists()
