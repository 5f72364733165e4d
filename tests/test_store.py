"""The SQLite store: real files, real second processes, real SIGKILLs."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import StoreCorruptError, StoreError, StoreLockedError
from reconciler.store import (
    HistoryChange,
    ScopeRecord,
    StateStore,
    Suspension,
    open_store,
)
from reconciler.store.history import content_of
from reconciler.store.sqlite.schema import APPLICATION_ID, SCHEMA_VERSION
from tests.store_contract.records import one_line, record

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "mailctl.db"


@pytest.fixture
def store(db: Path) -> Iterator[StateStore]:
    with open_store(db) as st:
        yield st


def raw(path: Path, sql: str) -> Any:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# --------------------------------------------------------------------------- open


def test_open_creates_wal_store_at_current_version(db: Path) -> None:
    with open_store(db) as st:
        key = st.fingerprint_key()
        assert len(key) == 32
        assert st.scopes() == {}
        assert st.current_revision() is None
        assert st.suspension() == Suspension(False, None, None, None)
        assert st.history() == []
        assert st.path == db
    assert raw(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert raw(db, "PRAGMA application_id") == [(APPLICATION_ID,)]
    assert raw(db, "PRAGMA journal_mode") == [("wal",)]
    with open_store(db, create=False) as st:
        assert st.fingerprint_key() == key


def test_fingerprint_key_differs_per_store(tmp_path: Path) -> None:
    with open_store(tmp_path / "a.db") as a, open_store(tmp_path / "b.db") as b:
        assert a.fingerprint_key() != b.fingerprint_key()


def test_open_without_create_needs_existing_store(db: Path) -> None:
    with pytest.raises(StoreError) as err:
        open_store(db, create=False)
    one_line(err.value)
    assert "mailctl apply" in str(err.value.hint)
    assert not db.exists()


def test_open_empty_file_initialises_it(db: Path) -> None:
    db.touch()
    with open_store(db) as st:
        assert len(st.fingerprint_key()) == 32


def test_newer_schema_is_refused(db: Path) -> None:
    open_store(db).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError) as err:
        open_store(db)
    one_line(err.value)
    assert err.value.hint == "upgrade mailctl"
    assert not isinstance(err.value, StoreLockedError)


@pytest.mark.parametrize(
    "content",
    [
        b"apiVersion: mailctl/v1\nkind: HostMailSettings\n" * 20,
        bytes(random.Random(7).randrange(256) for _ in range(4096)),
        b"SQLite format 3\x00" + b"\xff" * 200,
    ],
    ids=["yaml", "random", "bad-header"],
)
def test_non_sqlite_file_is_corrupt(db: Path, content: bytes) -> None:
    db.write_bytes(content)
    with pytest.raises(StoreCorruptError) as err:
        open_store(db)
    one_line(err.value)
    assert isinstance(err.value.__cause__, sqlite3.Error)
    assert db.read_bytes() == content  # untouched


def test_foreign_sqlite_database_is_refused(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a mailctl store") as err:
        open_store(db)
    one_line(err.value)


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as err:
        open_store(tmp_path)
    one_line(err.value)


def test_missing_grandparent_directory(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as err:
        open_store(tmp_path / "nope" / "deeper" / "mailctl.db")
    one_line(err.value)
    assert isinstance(err.value.__cause__, sqlite3.Error)


# --------------------------------------------------------------------------- records


def test_record_dict_roundtrip() -> None:
    rec = record("org/acme")
    assert ScopeRecord.from_dict(rec.to_dict()) == rec
    minimal = ScopeRecord.from_dict({"scope": "host", "mode": "default"})
    assert minimal == ScopeRecord("host", "default", {}, {}, {})


@pytest.mark.parametrize(("scope", "mode"), [("tenant/x", "custom"), ("org/a", "weird")])
def test_constraint_violation_is_store_error(store: StateStore, scope: str, mode: str) -> None:
    with pytest.raises(StoreError) as err, store.transaction() as tx:
        tx.upsert(record(scope, mode=mode))
    one_line(err.value)
    assert isinstance(err.value.__cause__, sqlite3.IntegrityError)
    assert store.scopes() == {}


# --------------------------------------------------------------------------- history


# --------------------------------------------------------------------------- flags


# --------------------------------------------------------------------------- transactions


# --------------------------------------------------------------------------- two processes

HOLDER = textwrap.dedent(
    """
    import sys, time
    from reconciler.store import ScopeRecord, StateStore, open_store
    path, hold = sys.argv[1], float(sys.argv[2])
    with open_store(path) as st, st.transaction() as tx:
        host = tx.get("host")
        n = host.spec["n"] if host else 0
        tx.upsert(ScopeRecord("host", "default", {"n": n + 1}, {}, {}))
        tx.upsert(ScopeRecord("org/holder", "default", {}, {}, {}))
        print("locked", flush=True)
        time.sleep(hold)
    print("committed", flush=True)
    """
)


def spawn(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return out


def test_second_writer_times_out_with_store_locked(db: Path) -> None:
    open_store(db).close()
    holder = spawn(HOLDER, str(db), "3")
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with open_store(db, lock_timeout_s=0.5) as st:
            # readers are not blocked and see only committed data
            assert st.get("org/holder") is None
            start = time.monotonic()
            with pytest.raises(StoreLockedError) as err, st.transaction():
                pass
            elapsed = time.monotonic() - start
        assert 0.4 <= elapsed < 2.0
        one_line(err.value)
        assert "is busy: another mailctl process" in str(err.value)
        assert "--lock-timeout" in str(err.value.hint)
        assert not {"move", "delete", "remove", "new store"} & set(str(err.value.hint).split())
        assert isinstance(err.value.__cause__, sqlite3.OperationalError)
    finally:
        finish(holder)


def test_second_writer_waits_and_serialises(db: Path) -> None:
    open_store(db).close()
    holder = spawn(HOLDER, str(db), "1.0")
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with open_store(db, lock_timeout_s=15) as st:
            start = time.monotonic()
            with st.transaction() as tx:
                waited = time.monotonic() - start
                host = tx.get("host")  # plans against what the first applier committed
                assert host is not None and tx.get("org/holder") is not None
                tx.upsert(ScopeRecord("host", "default", {"n": host.spec["n"] + 1}, {}, {}))
            assert waited >= 0.5
            host = st.get("host")
            assert host is not None and host.spec == {"n": 2}  # nothing lost
    finally:
        assert finish(holder).split() == ["committed"]


OPENER = textwrap.dedent(
    """
    import sys
    from reconciler.store import StateStore, open_store
    with open_store(sys.argv[1], lock_timeout_s=10) as st:
        print(st.fingerprint_key().hex())
    """
)


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_first_open_creates_one_store(tmp_path: Path, round_: int) -> None:
    db = tmp_path / f"race{round_}.db"
    procs = [spawn(OPENER, str(db)) for _ in range(5)]
    keys = {finish(p).strip() for p in procs}
    assert len(keys) == 1
    with open_store(db) as st:
        assert keys == {st.fingerprint_key().hex()}


# --------------------------------------------------------------------------- crash safety

WRITER = textwrap.dedent(
    """
    import sys
    from reconciler.store import HistoryChange, ScopeRecord, StateStore, open_store
    path, count = sys.argv[1], int(sys.argv[2])
    with open_store(path) as st:
        gen = 0
        while True:
            gen += 1
            rev = f"{sys.argv[3]}-{gen}"
            recs = [
                ScopeRecord(f"org/o{i:05d}", "custom", {"i": i, "rev": rev}, {"smtp.host": "h"},
                            {"smtp.host": "org"}, last_applied_revision=rev,
                            conditions={"Ready": {"status": "True", "reason": "Applied",
                                                  "message": rev}})
                for i in range(count)
            ]
            print("begin", rev, flush=True)
            with st.transaction() as tx:
                tx.upsert_many(recs)
                tx.record_history(revision=rev, actor="crash", kind="apply", summary=rev,
                                  changes=[HistoryChange(r.scope, None, r) for r in recs])
                tx.set_current_revision(rev)
            print("commit", rev, flush=True)
    """
)


def check_consistent(db: Path, count: int) -> str:
    assert raw(db, "PRAGMA integrity_check") == [("ok",)]
    assert raw(db, "PRAGMA foreign_key_check") == []
    with open_store(db, create=False) as st:
        scopes = st.scopes()
        revision = st.current_revision()
        latest = st.history(limit=1)
    assert len(scopes) == count
    revisions = {r.last_applied_revision for r in scopes.values()}
    assert revisions == {revision}, "a mix of revisions survived the crash"
    assert all(r.spec["rev"] == revision for r in scopes.values())
    assert latest[0].revision == revision
    assert revision is not None
    return revision


def test_sigkill_mid_transaction_leaves_old_or_new(db: Path) -> None:
    count, kills, mid_transaction = 5000, 12, 0
    rng = random.Random()
    with open_store(db) as st, st.transaction() as tx:
        recs = [
            ScopeRecord(f"org/o{i:05d}", "custom", {"rev": "seed"}, {}, {}, None, None, "seed")
            for i in range(count)
        ]
        tx.upsert_many(recs)
        tx.record_history(revision="seed", actor="t", kind="apply", summary="", changes=[])
        tx.set_current_revision("seed")
    committed = ["seed"]
    for n in range(kills):
        writer = spawn(WRITER, str(db), str(count), f"k{n}")
        time.sleep(rng.uniform(0.3, 1.5))
        writer.send_signal(signal.SIGKILL)
        out, err = writer.communicate(timeout=30)
        assert writer.returncode == -signal.SIGKILL, err
        lines = [line.split() for line in out.splitlines()]
        committed += [rev for what, rev in lines if what == "commit"]
        in_flight = lines[-1][1] if lines and lines[-1][0] == "begin" else None
        mid_transaction += in_flight is not None
        survivor = check_consistent(db, count)
        # the last reported commit, or the one in flight if it committed before the kill
        assert survivor in {committed[-1], in_flight}
        if survivor != committed[-1]:
            committed.append(survivor)
    assert mid_transaction >= kills // 2, "kills should mostly land inside a transaction"


# --------------------------------------------------------------------------- volume


def test_ten_thousand_scopes_in_one_transaction(db: Path) -> None:
    recs = [record(f"org/o{i:05d}") for i in range(10_000)]
    with open_store(db) as st:
        start = time.perf_counter()
        with st.transaction() as tx:
            tx.upsert_many(recs)
            tx.record_history(
                revision="rev1",
                actor="t",
                kind="apply",
                summary="10000 to create",
                changes=[HistoryChange(r.scope, None, r) for r in recs],
            )
        write_s = time.perf_counter() - start
        start = time.perf_counter()
        scopes = st.scopes()
        read_s = time.perf_counter() - start
        assert len(scopes) == 10_000 and scopes["org/o00042"] == recs[42]
        assert st.history_changes(st.history()[0].id)[42].after == content_of(recs[42])
    print(f"10k upsert_many + history in one txn: {write_s:.3f} s; scopes() of 10k: {read_s:.3f} s")
    # generous bounds (measured ~0.45 s / ~0.2 s): a regression guard, not a benchmark
    assert write_s < 4.0
    assert read_s < 1.5
