"""The PostgreSQL store beyond the shared contract (tests/store_contract runs that on both
backends): the lease and its fencing token, the key file, URL masking and error wrapping.
Against the real server of tests/fixtures_pg.py."""

from __future__ import annotations

import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from reconciler.errors import StoreCorruptError, StoreError, StoreFencedError, StoreLockedError
from reconciler.store import ScopeRecord, open_store
from reconciler.store.postgres import Fence, Lease, PgStore, mask_url, new_holder_id
from reconciler.store.postgres.connection import PgTarget

pytestmark = pytest.mark.usefixtures("pg_key_file")

READY = {"Ready": {"status": "True", "reason": "Applied", "message": "ok"}}


def rec(scope: str, host: str = "smtp.example.com") -> ScopeRecord:
    return ScopeRecord(
        scope=scope,
        mode="custom",
        spec={"smtp": {"host": host}},
        effective={"host": host, "port": 587},
        sources={"host": "org"},
        last_applied_revision="r1",
        conditions=READY,
    )


def grant_of(lease: Lease) -> int:
    token, _ = lease.try_acquire()
    assert token is not None
    return token


def holder(url: str, duration_s: float = 1.0) -> tuple[PgStore, Lease]:
    """A process-like writer: its store, fenced by its own lease."""
    fence = Fence(new_holder_id())
    store = PgStore.open(url)
    store.join_lease(fence)
    return store, Lease(PgTarget.parse(url), fence, duration_s, {"role": "test"})


def test_lease_is_exclusive_renewal_keeps_the_token_takeover_increments_it(pg_url: str) -> None:
    a_store, a = holder(pg_url, duration_s=1.0)
    b_store, b = holder(pg_url, duration_s=1.0)
    with a_store, b_store:
        t1, prev = a.try_acquire()
        assert t1 is not None and prev is None
        assert b.try_acquire() == (None, None)  # held and not expired
        assert a.try_acquire()[0] == t1  # renewal: same token
        time.sleep(1.2)  # a's lease expires (the server's clock)
        t2, prev = b.try_acquire()
        assert t2 == t1 + 1 and prev == a.holder
        assert a.try_acquire() == (None, None)
        state = b.state()
        assert state is not None and state.holder == b.holder and state.token == t2
        assert state.info["role"] == "test" and state.expires_in_s > 0
        b.release(t2)  # a graceful stop: the lease expires at once
        t3, _ = a.try_acquire()
        assert t3 == t2 + 1
        a.close()
        b.close()


def test_a_stale_leader_is_refused_and_writes_nothing(pg_url: str) -> None:
    a_store, a = holder(pg_url, duration_s=1.0)
    b_store, b = holder(pg_url, duration_s=5.0)
    with a_store, b_store:
        a.fence.grant(grant_of(a))
        with a_store.transaction() as tx:
            tx.upsert(rec("host", "a-1"))
        time.sleep(1.2)
        b.fence.grant(grant_of(b))
        # a was paused: it still believes it leads
        with (
            pytest.raises(StoreFencedError, match="fencing token") as info,
            a_store.transaction() as tx,
        ):
            tx.upsert(rec("host", "a-2"))
        assert "\n" not in str(info.value)
        with b_store.transaction() as tx:
            tx.upsert(rec("org/acme", "b-1"))
        got = b_store.scopes()
        assert got["host"].effective["host"] == "a-1"  # a's second write never landed
        assert set(got) == {"host", "org/acme"}
        a.close()
        b.close()


def test_the_fence_is_checked_again_at_commit(pg_url: str) -> None:
    """A leader whose lease is taken over *during* its transaction has the whole
    transaction refused and rolled back (the check right before COMMIT)."""
    a_store, a = holder(pg_url, duration_s=1.0)
    b_store, b = holder(pg_url, duration_s=5.0)
    with a_store, b_store:
        a.fence.grant(grant_of(a))
        with pytest.raises(StoreFencedError), a_store.transaction() as tx:
            tx.upsert_many([rec("host", "a"), rec("org/one", "a")])
            time.sleep(1.2)  # paused mid-transaction past its lease...
            b.fence.grant(grant_of(b))  # ...and a standby took over
        assert b_store.scopes() == {}
        with b_store.transaction() as tx:
            tx.upsert(rec("host", "b"))
        assert b_store.get("host") == rec("host", "b")
        a.close()
        b.close()


def test_an_expired_lease_refuses_writes_even_before_anyone_takes_over(pg_url: str) -> None:
    a_store, a = holder(pg_url, duration_s=1.0)
    with a_store:
        a.fence.grant(grant_of(a))
        time.sleep(1.2)
        with pytest.raises(StoreFencedError), a_store.transaction() as tx:
            tx.upsert(rec("host"))
        assert a_store.scopes() == {}
        a.close()


def test_a_store_without_a_lease_token_refuses_fenced_writes_but_not_suspend(
    pg_url: str,
) -> None:
    store, lease = holder(pg_url)
    with store:
        with pytest.raises(StoreFencedError, match="does not hold"), store.transaction() as tx:
            tx.upsert(rec("host"))
        store.set_suspended("maintenance", actor="ops")  # an operator's switch: no lease
        assert store.suspension().suspended
        lease.close()


def test_command_lease_waits_for_the_holder_and_names_it(pg_url: str) -> None:
    a_store, a = holder(pg_url, duration_s=30.0)
    b_store, b = holder(pg_url, duration_s=30.0)
    a_store.close()
    b_store.close()
    a.acquire(wait_s=0)
    t0 = time.monotonic()
    with pytest.raises(StoreLockedError, match=r"leader lease is held by test \(pid"):
        b.acquire(wait_s=0.6)
    assert time.monotonic() - t0 >= 0.5
    a.release(a.fence.token)
    assert b.acquire(wait_s=2.0) >= 2
    a.close()
    b.close()


def test_writers_serialise_and_the_second_waits_then_sees_the_first(pg_url: str) -> None:
    with open_store(pg_url) as one, open_store(pg_url, lock_timeout_s=10) as two:
        started = threading.Event()
        seen: list[int] = []

        def second() -> None:
            started.wait()
            with two.transaction() as tx:
                seen.append(len(tx.scopes()))
                tx.upsert(rec("org/two"))

        t = threading.Thread(target=second)
        t.start()
        with one.transaction() as tx:
            tx.upsert(rec("host"))
            started.set()
            time.sleep(0.5)
            tx.upsert(rec("org/one"))
        t.join()
        assert seen == [2]
        with open_store(pg_url, lock_timeout_s=0.3) as three, one.transaction() as tx:
            tx.upsert(rec("org/three"))
            with pytest.raises(StoreLockedError, match="busy"), three.transaction():
                pass


def test_the_fingerprint_key_lives_in_its_0600_file_and_is_checked(
    pg_url: str, pg_key_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_store(pg_url) as st:
        key = st.fingerprint_key()
    assert stat.S_IMODE(pg_key_file.stat().st_mode) == 0o600
    assert pg_key_file.read_text().strip() == key.hex()
    with psycopg.connect(pg_url) as conn:  # the database holds only a check value
        values = [str(v) for (v,) in conn.execute("SELECT value FROM meta").fetchall()]
    assert not any(key.hex() in v for v in values)
    other = tmp_path / "other.key"
    other.write_text("ab" * 32 + "\n")
    other.chmod(0o600)
    monkeypatch.setenv("MAILCTL_FINGERPRINT_KEY_FILE", str(other))
    with open_store(pg_url) as st, pytest.raises(StoreError, match="different key"):
        st.fingerprint_key()
    monkeypatch.delenv("MAILCTL_FINGERPRINT_KEY_FILE")
    with open_store(pg_url) as st:
        assert st.scopes() == {}  # commands without a key still work
        with pytest.raises(StoreError, match="MAILCTL_FINGERPRINT_KEY_FILE"):
            st.fingerprint_key()


def test_open_refuses_a_foreign_database_and_a_missing_store(pg_url: str) -> None:
    with pytest.raises(StoreError, match="holds no mailctl store"):
        open_store(pg_url, create=False)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE scopes (id int)")
    with pytest.raises(StoreCorruptError, match="not a mailctl store"):
        open_store(pg_url)


def test_concurrent_openers_migrate_once(pg_url: str) -> None:
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            with open_store(pg_url) as st:
                st.scopes()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM mailctl_schema").fetchone() == (1,)


def test_a_password_in_the_url_never_shows(pg_database: object) -> None:
    url = "postgresql://mailctl:s3cr3t-pw@127.0.0.1:1/mailctl?connect_timeout=2"
    assert mask_url(url) == "postgresql://mailctl:***@127.0.0.1:1/mailctl?connect_timeout=2"
    with pytest.raises(StoreError) as info:
        open_store(url)
    text = f"{info.value} {info.value.hint}"
    assert "s3cr3t-pw" not in text and "\n" not in str(info.value)
    assert "postgresql://mailctl@127.0.0.1:1/mailctl" in str(info.value)
    with pytest.raises(StoreError, match="not a valid PostgreSQL URL") as bad:
        open_store("postgresql://mailctl:s3cr3t-pw@127.0.0.1/db?bogus=1")
    assert "s3cr3t-pw" not in str(bad.value)


def test_the_store_reconnects_after_the_server_ends_its_session(pg_url: str) -> None:
    with open_store(pg_url) as st, psycopg.connect(pg_url, autocommit=True) as admin:
        with st.transaction() as tx:
            tx.upsert(rec("host"))
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        with pytest.raises(StoreError) as info:
            st.scopes()
        assert "\n" not in str(info.value)
        assert set(st.scopes()) == {"host"}  # the next call has a new session


def test_the_cli_never_prints_the_password_of_a_store_url(tmp_path: Path) -> None:
    url = "postgresql://mailctl:s3cr3t-pw@127.0.0.1:1/mailctl"
    for args in (["status"], ["history"], ["suspend", "--reason", "x"]):
        out = subprocess.run(
            [sys.executable, "-m", "reconciler", *args, "--store", url],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            check=False,
        )
        assert out.returncode == 1, out
        assert "s3cr3t" not in out.stdout + out.stderr
        assert "Traceback" not in out.stderr
        first = out.stderr.splitlines()[0]
        assert first.startswith("mailctl: error: store: store postgresql://mailctl@127.0.0.1:1/")


def test_a_new_leader_ends_a_frozen_ex_leaders_transaction_after_the_lock_timeout(
    pg_url: str,
) -> None:
    """A leader frozen inside its write transaction holds the write lock; the new leader
    waits for it up to its lock timeout, then ends that stale session and writes. The
    frozen leader's transaction never commits."""
    a_store, a = holder(pg_url, duration_s=1.0)
    fence = Fence(new_holder_id())
    b_store = PgStore.open(pg_url, lock_timeout_s=1.0)
    b_store.join_lease(fence)
    b = Lease(PgTarget.parse(pg_url), fence, 30.0, {"role": "test"})
    with a_store, b_store:
        a.fence.grant(grant_of(a))
        frozen = a_store.transaction()
        tx = frozen.__enter__()  # a is "frozen" here: inside its transaction, not committing
        tx.upsert(rec("host", "a"))
        time.sleep(1.2)
        b.fence.grant(grant_of(b))
        t0 = time.monotonic()
        with b_store.transaction() as btx:
            btx.upsert(rec("host", "b"))
        assert 0.9 <= time.monotonic() - t0 < 10  # waited its lock timeout, not forever
        assert b_store.get("host") == rec("host", "b")
        with pytest.raises(StoreError):  # a's session was ended: nothing of it commits
            tx.upsert(rec("org/late", "a"))
            frozen.__exit__(None, None, None)
        assert set(b_store.scopes()) == {"host"}
        a.close()
        b.close()


def test_an_unfenced_writer_is_never_ended(pg_url: str) -> None:
    """Only sessions of earlier lease holders are ended; a `suspend` from the command line
    (no lease) holding the lock just makes the leader wait and then report the lock."""
    fence = Fence(new_holder_id())
    leader = PgStore.open(pg_url, lock_timeout_s=0.5)
    leader.join_lease(fence)
    lease = Lease(PgTarget.parse(pg_url), fence, 30.0, {"role": "test"})
    with open_store(pg_url) as cli, leader:
        fence.grant(grant_of(lease))
        with cli.transaction() as tx:
            tx.upsert(rec("host", "cli"))
            with pytest.raises(StoreLockedError), leader.transaction() as ltx:
                ltx.upsert(rec("host", "leader"))
        assert cli.get("host") == rec("host", "cli")
        lease.close()
