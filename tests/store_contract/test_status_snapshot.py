"""``status_snapshot()`` and ``history_change()``: the read API's store reads, against every
backend."""

from __future__ import annotations

from reconciler.store import HeldRecord, HistoryChange, ScopeDelta, ScopeStatus, StateStore
from reconciler.store.history import content_of
from tests.store_contract.records import record


def test_status_snapshot_matches_the_full_snapshot(store: StateStore) -> None:
    host, acme, beta = record("host"), record("org/acme"), record("org/beta", probe=None)
    held = HeldRecord("org/new", "scope", "InvalidManifest", "x.yaml:1:1: bad", "x.yaml", "r", "t")
    with store.transaction() as tx:
        tx.upsert_many([beta, acme, host])
        tx.put_held([held])
        tx.set_current_revision("rev-9")
    store.set_suspended("maintenance", "tester")
    full, light = store.snapshot(), store.status_snapshot()
    assert light.statuses == tuple(ScopeStatus.of(r) for r in full.scopes.values())
    assert [s.scope for s in light.statuses] == ["host", "org/acme", "org/beta"]
    assert light.statuses[1].probe == acme.probe and light.statuses[2].probe is None
    assert (light.suspension, light.current_revision, light.held) == (
        full.suspension,
        full.current_revision,
        full.held,
    )
    assert light.data_version == full.data_version == store.data_version()
    assert light.suspension.reason == "maintenance"


def test_history_change_of_one_scope(store: StateStore) -> None:
    acme, beta = record("org/acme"), record("org/beta")
    with store.transaction() as tx:
        tx.upsert_many([acme, beta])
        first = tx.record_history(
            revision="r1",
            actor="t",
            kind="apply",
            summary="two",
            changes=[HistoryChange("org/acme", None, acme), HistoryChange("org/beta", None, beta)],
        )
    changed = record("org/acme", revision="r2", mode="default")
    with store.transaction() as tx:
        tx.upsert(changed)
        second = tx.record_history(
            revision="r2",
            actor="t",
            kind="apply",
            summary="one",
            changes=[HistoryChange("org/acme", acme, changed)],
        )
    assert store.history_change(second, "org/acme") == ScopeDelta(
        "org/acme", {"mode": "custom"}, {"mode": "default"}
    )
    assert store.history_change(first, "org/beta") == ScopeDelta("org/beta", None, content_of(beta))
    assert store.history_change(second, "org/beta") is None
    assert store.history_change(999, "org/acme") is None
    assert store.history_change(first, "org/acme") in store.history_changes(first)
