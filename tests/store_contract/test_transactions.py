"""Suspend flag, data version and transactions, against every store backend."""

from __future__ import annotations

import pytest

from reconciler.errors import StoreError
from reconciler.store import StateStore, Suspension
from tests.store_contract.conftest import StoreBackend
from tests.store_contract.records import READY, record


def test_suspend_and_resume(store_backend: StoreBackend) -> None:
    with store_backend.open() as st:
        before = st.data_version()
        st.set_suspended("maintenance window", actor="alice")
        s = st.suspension()
        assert (s.suspended, s.reason, s.by) == (True, "maintenance window", "alice")
        assert s.at is not None and s.at.endswith("Z")
        assert st.data_version() > before
    with store_backend.open() as st:
        s = st.suspension()
        assert (s.suspended, s.reason) == (True, "maintenance window")
        st.set_suspended(None, actor="bob")
        assert st.suspension() == Suspension(False, None, None, "bob")
        snap = st.snapshot()
        assert not snap.suspension.suspended
        assert snap.data_version == st.data_version()


def test_data_version_counts_committed_changes_across_connections(
    store_backend: StoreBackend,
) -> None:
    with store_backend.open() as writer, store_backend.open() as watcher:
        v0 = watcher.data_version()
        with writer.transaction():
            pass  # nothing written: no change to report
        assert watcher.data_version() == v0
        with writer.transaction() as tx:
            tx.upsert(record("host"))
        v1 = watcher.data_version()
        assert v1 > v0
        with writer.transaction() as tx:
            tx.set_conditions("org/absent", {"Ready": READY})  # matches nothing
        assert watcher.data_version() == v1


def test_transaction_rolls_back_on_exception(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.upsert(record("host"))
    version = store.data_version()

    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.transaction() as tx:
        tx.upsert_many([record("org/a"), record("org/b")])
        tx.delete("host")
        tx.record_history(revision="r2", actor="a", kind="apply", summary="s", changes=[])
        tx.set_current_revision("r2")
        tx.set_probe("host", {"status": "failed"})
        raise Boom
    assert list(store.scopes()) == ["host"]
    assert store.get("host") == record("host")
    assert store.history() == []
    assert store.current_revision() is None
    assert store.data_version() == version
    with store.transaction() as tx:  # the store is usable again
        tx.upsert(record("org/c"))
    assert list(store.scopes()) == ["host", "org/c"]


def test_tx_is_dead_after_its_block_and_no_nesting(store: StateStore) -> None:
    with store.transaction() as tx:
        with pytest.raises(StoreError, match="already open"), store.transaction():
            pass
        with pytest.raises(StoreError, match="already open"):
            store.set_suspended("x", actor="a")
        assert store.get("host") is None  # reads are fine inside
    with pytest.raises(StoreError, match="finished"):
        tx.upsert(record("host"))
