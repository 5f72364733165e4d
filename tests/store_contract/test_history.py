"""History entries, against every store backend."""

from __future__ import annotations

import pytest

from reconciler.errors import StoreError
from reconciler.store import HistoryChange, ScopeDelta, StateStore
from reconciler.store.history import content_of
from tests.store_contract.records import one_line, record


def test_history_with_before_after_and_scope_filter(store: StateStore) -> None:
    host1, acme1, beta1 = record("host"), record("org/acme"), record("org/beta")
    with store.transaction() as tx:
        tx.upsert_many([host1, acme1, beta1])
        first = tx.record_history(
            revision="rev1",
            actor="alice",
            kind="apply",
            summary="3 to create",
            changes=[HistoryChange(r.scope, None, r) for r in (beta1, host1, acme1)],
            at="2024-05-01T12:00:00Z",
        )
        tx.set_current_revision("rev1")
    acme2 = record("org/acme", revision="rev2", mode="default")
    with store.transaction() as tx:
        before = tx.scopes()
        tx.upsert(acme2)
        tx.delete("org/beta")
        second = tx.record_history(
            revision="rev2",
            actor="bob",
            kind="rollback",
            summary="1 to update, 1 to delete",
            changes=[
                HistoryChange("org/beta", before["org/beta"], None),
                HistoryChange("org/acme", before["org/acme"], acme2),
            ],
        )
        tx.set_current_revision("rev2")
    assert second > first
    assert store.current_revision() == "rev2"

    entries = store.history()
    assert [e.id for e in entries] == [second, first]
    assert entries[1].scopes == ("host", "org/acme", "org/beta")
    assert (entries[1].revision, entries[1].actor, entries[1].kind) == ("rev1", "alice", "apply")
    assert entries[1].at == "2024-05-01T12:00:00Z" and entries[1].summary == "3 to create"
    assert entries[0].scopes == ("org/acme", "org/beta") and entries[0].kind == "rollback"
    assert entries[0].at.endswith("Z")

    assert [e.id for e in store.history("host")] == [first]
    assert [e.id for e in store.history("org/beta")] == [second, first]
    assert store.history("org/none") == []
    assert [e.id for e in store.history(limit=1)] == [second]
    assert len(store.history(limit=None)) == 2

    # compact: only what changed in the content (mode), the whole content of a deleted scope
    assert store.history_changes(second) == [
        ScopeDelta("org/acme", {"mode": "custom"}, {"mode": "default"}),
        ScopeDelta("org/beta", content_of(beta1), None),
    ]
    assert [(d.scope, d.action) for d in store.history_changes(second)] == [
        ("org/acme", "update"),
        ("org/beta", "delete"),
    ]
    assert store.history_changes(first) == [
        ScopeDelta(r.scope, None, content_of(r)) for r in (host1, acme1, beta1)
    ]
    assert [e.scopes for e in store.history(scopes=False)] == [(), ()]
    with pytest.raises(StoreError) as err:
        store.history_changes(9999)
    one_line(err.value)


def test_history_kind_is_checked(store: StateStore) -> None:
    with pytest.raises(ValueError), store.transaction() as tx:
        tx.record_history(revision="r", actor="a", kind="oops", summary="", changes=[])


def test_prune_keeps_the_newest_entries(store: StateStore) -> None:
    ids = []
    for i in range(5):
        rec = record("org/acme", revision=f"rev{i}", spec={"n": i})
        with store.transaction() as tx:
            old = tx.get("org/acme")
            tx.upsert(rec)
            ids.append(
                tx.record_history(
                    revision=f"rev{i}",
                    actor="a",
                    kind="apply",
                    summary=str(i),
                    changes=[HistoryChange("org/acme", old, rec)],
                )
            )
    with store.transaction() as tx:
        assert tx.prune_history(10) == 0
        assert tx.prune_history(2) == 3
    assert [e.id for e in store.history(limit=None)] == ids[:1:-1][:2]
    assert [e.id for e in store.history("org/acme")] == [ids[4], ids[3]]
    with pytest.raises(StoreError) as err:
        store.history_changes(ids[0])
    one_line(err.value)
    with store.transaction() as tx, pytest.raises(ValueError):
        tx.prune_history(-1)
    assert store.get("org/acme") == record("org/acme", revision="rev4", spec={"n": 4})
