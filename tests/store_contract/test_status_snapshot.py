"""``status_snapshot()``: what fleet views read of every scope, against every backend."""

from __future__ import annotations

from reconciler.store import HeldRecord, ScopeStatus, StateStore
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
