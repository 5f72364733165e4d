"""The targets' sync state (DESIGN §12) on every backend: stored verbatim, read by scope,
replaced, dropped; every write moves the data version (readers notice it)."""

from __future__ import annotations

from reconciler.store import StateStore
from reconciler.targets.state import FAILED, SYNCED, SyncState


def _state(target: str, scope: str, status: str = SYNCED, **values: str) -> SyncState:
    return SyncState(
        target=target,
        scope=scope,
        kind="OrchestratorTarget",
        partition=f"p-{scope}",
        values=dict(values),
        secret_fp="fp0123456789abcdef",
        status=status,
        reason="Synced" if status == SYNCED else "Forbidden",
        message="partition p" if status == SYNCED else "HTTP 403",
        at="2026-01-01T00:00:00Z",
        attempts=0 if status == SYNCED else 2,
        synced_at="2026-01-01T00:00:00Z",
        revision="rev-1",
    )


def test_states_round_trip_by_scope_and_are_replaced(store: StateStore) -> None:
    assert store.target_states() == []
    a = _state("prod", "host", **{"Email.Smtp.Host": "smtp.example"})
    b = _state("prod", "org/acme", FAILED)
    c = _state("hook", "org/acme", document="abc")
    before = store.data_version()
    store.put_target_states([a, b, c])
    assert store.data_version() > before
    assert sorted(store.target_states(), key=lambda s: s.key) == sorted(
        [a, b, c], key=lambda s: s.key
    )
    assert sorted(s.target for s in store.target_states(["org/acme"])) == ["hook", "prod"]
    fixed = _state("prod", "org/acme", **{"Email.Smtp.Port": "587"})
    store.put_target_states([fixed])
    assert [s for s in store.target_states(["org/acme"]) if s.target == "prod"] == [fixed]


def test_states_are_dropped_by_target_and_scope(store: StateStore) -> None:
    store.put_target_states([_state("prod", "host"), _state("prod", "org/a"), _state("x", "host")])
    store.drop_target_states([("prod", "org/a"), ("x", "host")])
    assert [s.key for s in store.target_states()] == [("prod", "host")]
