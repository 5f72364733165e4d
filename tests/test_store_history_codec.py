"""The compact-history codec on its own: texts are canonical (equal changes, equal text,
however they were encoded) and round-trip through expand/undo/redo exactly."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from reconciler.store.history import compact, content_of, delta_text, expand
from reconciler.store.records import HistoryChange, TextMemo, dumps
from tests.store_contract.records import record


def test_created_and_deleted_deltas_are_canonical_with_a_memo() -> None:
    rec = record("org/acme", fingerprint=None)
    memo = TextMemo()
    memo(rec.effective)  # encoded once by the transaction's upsert
    for before, after in ((None, rec), (rec, None)):
        text = delta_text(before, after, memo)
        side = {k: v for k, v in content_of(rec).items() if k != "source_file"}
        assert text == dumps({"a": side} if before is None else {"b": side})
        assert text == delta_text(before, after)


def test_rows_round_trip_through_expand() -> None:
    old = record("org/acme")
    new = record("org/acme", revision="r2", source_file="configs/moved.yaml", mode="default")
    other = record("org/beta")
    rows = compact(
        [
            HistoryChange("org/acme", old, new),
            HistoryChange("org/beta", None, other),
            HistoryChange("org/gone", None, None),
        ]
    )
    assert [r[0] for r in rows.scopes] == ["org/acme", "org/beta"]
    deltas = [json.loads(d) for d in rows.deltas]
    state = {"org/acme": content_of(new), "org/beta": content_of(other)}
    for scope, n, file in reversed(rows.scopes):
        expand(scope, deltas[n], file).undo(state)
    assert state == {"org/acme": content_of(old)}
    for scope, n, file in rows.scopes:
        expand(scope, deltas[n], file).redo(state)
    assert state == {"org/acme": content_of(new), "org/beta": content_of(other)}


def test_long_deltas_are_stored_compressed_and_read_back(tmp_path: Path) -> None:
    from reconciler.store import open_store

    created = record("org/acme")
    with open_store(tmp_path / "s.db") as st:
        with st.transaction() as tx:
            tx.upsert(created)
            hid = tx.record_history(
                revision="r1",
                actor="t",
                kind="apply",
                summary="",
                changes=[HistoryChange("org/acme", None, created)],
            )
        assert st.history_changes(hid)[0].after == content_of(created)
        assert st.history_change(hid, "org/acme") == st.history_changes(hid)[0]
    conn = sqlite3.connect(tmp_path / "s.db")
    ((kind, size),) = conn.execute(
        "SELECT typeof(delta), length(delta) FROM history_deltas"
    ).fetchall()
    conn.close()
    assert kind == "blob" and size < len(delta_text(None, created)) / 2
