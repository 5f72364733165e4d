"""Reading every scope decodes equal JSON once: records of inheriting orgs share their
settings (bounded memory at 100,000 orgs) and still read back exactly as written, inside
and outside a write transaction, and history written from them is unchanged."""

from __future__ import annotations

from pathlib import Path

from reconciler.store import HistoryChange, open_store
from reconciler.store.history import content_of
from tests.store_contract.records import record


def test_equal_columns_are_shared_and_values_exact(tmp_path: Path) -> None:
    same = [record(f"org/o{i}", effective={"smtp.host": "h", "smtp.port": 25}) for i in range(5)]
    other = record("org/x")
    with open_store(tmp_path / "s.db") as store:
        with store.transaction() as tx:
            tx.upsert_many([*same, other])
        read = store.scopes()
        assert [read[r.scope] for r in [*same, other]] == [*same, other]
        first, second = read["org/o0"], read["org/o1"]
        assert first.effective is second.effective  # one decoded value for equal text
        assert first.conditions is second.conditions
        assert read["org/x"].effective is not first.effective
        with store.transaction() as tx:
            current = tx.scopes()
            assert current == read
            new = record("org/o0", "rev2", effective={"smtp.host": "h2", "smtp.port": 25})
            hid = tx.record_history(
                revision="rev2",
                actor="t",
                kind="apply",
                summary="s",
                changes=[HistoryChange("org/o0", current["org/o0"], new)],
            )
            tx.upsert(new)
        (change,) = store.history_changes(hid)
        state = {"org/o0": content_of(new)}
        change.undo(state)  # compact history: the entry takes the record back exactly
        assert state == {"org/o0": content_of(same[0])}
        assert store.scopes()["org/o1"] == same[1]  # the shared value was not touched
