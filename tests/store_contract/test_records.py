"""Scope records, conditions and probe results, against every store backend."""

from __future__ import annotations

import pytest

from reconciler.errors import StoreError
from reconciler.store import StateStore
from reconciler.store.protocol import PROBE_LOG_KEEP
from tests.store_contract.conftest import StoreBackend
from tests.store_contract.records import READY, STALLED, one_line, record


def test_closed_store_raises_store_error(store_backend: StoreBackend) -> None:
    st = store_backend.open()
    st.close()
    st.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        st.scopes()


def test_upsert_get_delete_roundtrip(store: StateStore) -> None:
    host, acme, beta = record("host"), record("org/acme"), record("org/beta", probe=None)
    with store.transaction() as tx:
        tx.upsert_many([beta, acme])
        tx.upsert(host)
        assert tx.get("org/acme") == acme  # own writes visible inside the transaction
    assert store.get("org/acme") == acme
    assert store.get("org/beta") == beta
    assert store.get("org/nope") is None
    scopes = store.scopes()
    assert list(scopes) == ["host", "org/acme", "org/beta"]
    assert scopes == {"host": host, "org/acme": acme, "org/beta": beta}
    # equality is by value: a changed nested field is a difference, a rebuilt one is not
    assert record("org/acme") == scopes["org/acme"]
    assert record("org/acme", spec={"mode": "default"}) != scopes["org/acme"]

    changed = record("org/acme", revision="rev2", probe=None, mode="default")
    with store.transaction() as tx:
        tx.upsert(changed)
        tx.delete("org/beta")
        tx.delete("org/never-existed")
    assert store.get("org/acme") == changed  # probe cleared with the record
    assert list(store.scopes()) == ["host", "org/acme"]


def test_set_conditions_touches_only_its_columns(store: StateStore) -> None:
    rec = record("org/acme")
    with store.transaction() as tx:
        tx.upsert(rec)
    with store.transaction() as tx:
        tx.set_conditions("org/acme", {"Ready": READY, "Stalled": STALLED})
        tx.set_conditions("org/absent", {"Stalled": STALLED}, "rev9", "2024-06-01T00:00:00Z")
    got = store.get("org/acme")
    assert got is not None
    assert got.conditions == {"Ready": READY, "Stalled": STALLED}
    assert got.last_attempted_revision == rec.last_attempted_revision
    assert store.get("org/absent") is None

    with store.transaction() as tx:
        tx.set_conditions_many(
            [("org/acme", {"Stalled": STALLED})],
            last_attempted_revision="rev9",
            last_attempted_at="2024-06-01T00:00:00Z",
        )
    got = store.get("org/acme")
    assert got is not None
    assert got.conditions == {"Stalled": STALLED}
    assert (got.last_attempted_revision, got.last_attempted_at) == (
        "rev9",
        "2024-06-01T00:00:00Z",
    )
    assert got.last_applied_revision == rec.last_applied_revision
    assert got.spec == rec.spec and got.probe == rec.probe


def test_set_probe_latest_and_capped_log(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.upsert_many([record("host"), record("org/a"), record("org/b")])
    for i in range(PROBE_LOG_KEEP + 5):
        store.set_probe(["org/a", "org/b", "org/ghost"], {"status": "failed", "n": i})
    a = store.get("org/a")
    assert a is not None and a.probe == {"status": "failed", "n": PROBE_LOG_KEEP + 4}
    host = store.get("host")
    assert host is not None and host.probe == record("host").probe
    log = store.probe_log("org/b")
    assert [e["n"] for e in log] == list(range(PROBE_LOG_KEEP + 4, 4, -1))
    assert store.get("org/ghost") is None
    assert store.probe_log("org/ghost") == []
    with store.transaction() as tx:
        tx.set_probe("host", {"status": "passed"})
        tx.delete("org/a")
    assert store.probe_log("org/a") == []  # the log goes with the scope
    assert store.probe_log("host") == [{"status": "passed"}]


def test_location_and_not_lost(store: StateStore, store_backend: StoreBackend) -> None:
    assert store.location
    assert store.lost() is None
    assert store.snapshot().scopes == {}
    assert len(store.fingerprint_key()) == 32


def test_bad_record_is_one_line_store_error_and_writes_nothing(store: StateStore) -> None:
    with pytest.raises(StoreError) as err, store.transaction() as tx:
        tx.upsert(record("org/a"))
        tx.upsert(record("tenant/x"))
    one_line(err.value)
    assert store.scopes() == {}
