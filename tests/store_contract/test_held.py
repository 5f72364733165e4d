"""Held rows (never-applied scopes, invalid files), against every store backend."""

from __future__ import annotations

from reconciler.store import HeldRecord, ScopeRecord, StateStore


def test_held_rows_round_trip_and_appear_in_the_snapshot(store: StateStore) -> None:
    new = HeldRecord("org/newco", "scope", "InvalidManifest", "bad", "c/newco.yaml", "r1", "t")
    bad = HeldRecord(
        "c/broken.yaml", "file", "InvalidManifest", "x:1:1", "c/broken.yaml", None, "t"
    )
    with store.transaction() as tx:
        tx.upsert(ScopeRecord("org/acme", "default", {}, {}, {}, source_file="c/acme.yaml"))
        tx.put_held([new, bad])
        assert tx.claimed_files(["c/acme.yaml", "c/broken.yaml"]) == {"c/acme.yaml"}
    assert store.held() == [new, bad]  # scopes first, then files
    assert store.snapshot().held == (new, bad)
    version = store.data_version()
    with store.transaction() as tx:
        assert tx.held()["org/newco"].same_as(
            HeldRecord("org/newco", "scope", "InvalidManifest", "bad", "c/newco.yaml", "r2", "u")
        )
        tx.drop_held(["org/newco"])
    assert store.held() == [bad]
    assert store.data_version() == version + 1
