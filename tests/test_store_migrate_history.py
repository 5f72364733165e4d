"""A store written before compact history (whole records before and after per touched scope
in ``history_scopes``: SQLite schema v1-v3, PostgreSQL v1-v2) migrates and keeps every
entry's meaning: the same ids, times, actors, summaries and scopes, and a rollback to any
entry gives the settings the old full-record history held for it."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reconciler.operations import rollback
from reconciler.store import ScopeRecord, StateStore, open_store
from reconciler.store.history import Content, content_of
from reconciler.store.records import dumps
from reconciler.store.sqlite import schema
from tests.store_contract.test_history_replay import KEYS, _step

SCOPE_COLUMNS = (
    "scope, mode, spec, effective, sources, fingerprint, source_file, last_applied_revision,"
    " last_applied_at, last_attempted_revision, last_attempted_at, conditions"
)


@dataclass
class OldHistory:
    """What a full-record store held: entries with their rows, the final records, and the
    content of every scope right after each entry (the reference)."""

    entries: list[tuple[Any, ...]] = field(
        default_factory=list
    )  # (id, rev, at, actor, kind, summary, scopes)
    rows: list[tuple[int, str, str | None, str | None]] = field(default_factory=list)
    final: dict[str, ScopeRecord] = field(default_factory=dict)
    reference: dict[int, dict[str, Content]] = field(default_factory=dict)

    def scope_rows(self) -> Iterator[tuple[Any, ...]]:
        for r in self.final.values():
            yield (
                r.scope, r.mode, dumps(r.spec), dumps(r.effective), dumps(r.sources),
                r.fingerprint, r.source_file, r.last_applied_revision, r.last_applied_at,
                r.last_attempted_revision, r.last_attempted_at, dumps(r.conditions),
            )  # fmt: skip


def old_history(seed: int) -> OldHistory:
    """Entries as the full-record code wrote them: per touched scope ``dumps(to_dict())``
    of the record before and after (ids from 1, as both backends number them)."""
    rng = random.Random(seed)
    host = ScopeRecord(
        "host", "custom", {"mode": "custom"}, dict.fromkeys(KEYS, "h"),
        dict.fromkeys(KEYS, "host"), "f0", "configs/host.yaml", "r0", "t0", "r0", "t0",
        {"Ready": {"status": "True", "reason": "Applied", "message": "r0"}},
        {"status": "passed"},
    )  # fmt: skip
    out = OldHistory()
    state: dict[str, ScopeRecord] = {}
    nxt: dict[str, ScopeRecord] = {"host": host}
    for i in range(60):
        if i:
            nxt = _step(state, rng, i)
        touched = sorted(state.keys() | nxt.keys(), key=lambda x: (x != "host", x))
        touched = [s for s in touched if state.get(s) != nxt.get(s)]
        if not touched:
            continue
        hid = len(out.entries) + 1
        at = f"2024-01-01T00:00:{i:02d}Z"
        kind = "apply" if i % 5 else "rollback"
        out.entries.append((hid, f"r{i}", at, f"actor{i % 3}", kind, f"step {i}", tuple(touched)))
        for s in touched:
            before, after = state.get(s), nxt.get(s)
            out.rows.append(
                (
                    hid,
                    s,
                    None if before is None else dumps(before.to_dict()),
                    None if after is None else dumps(after.to_dict()),
                )
            )
        state = nxt
        out.reference[hid] = {s: content_of(r) for s, r in state.items()}
    out.final = state
    return out


def settings(records: dict[str, ScopeRecord]) -> dict[str, Content]:
    return settings_of({s: content_of(r) for s, r in records.items()})


def settings_of(state: dict[str, Content]) -> dict[str, Content]:
    """The applied settings; the source file alone is no reason to roll a scope back."""
    return {s: {k: v for k, v in c.items() if k != "source_file"} for s, c in state.items()}


def check_migrated(st: StateStore, old: OldHistory) -> None:
    got = [
        (e.id, e.revision, e.at, e.actor, e.kind, e.summary, e.scopes)
        for e in st.history(limit=None)
    ]
    assert got == old.entries[::-1]
    actions = {d.action for hid in old.reference for d in st.history_changes(hid)}
    assert actions == {"create", "update", "delete"}
    st.set_suspended("migration test", "tester")
    for hid in sorted(old.reference, reverse=True):
        rollback(st, hid, "tester")
        assert settings(st.scopes()) == settings_of(old.reference[hid]), f"entry {hid}"


def write_sqlite_v2(path: Path, old: OldHistory) -> None:
    """A v2 SQLite store with raw SQL: the released DDL (migrations 1 and 2), the rows."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    for statements, seed_fn in schema.MIGRATIONS[:2]:
        for statement in statements:
            conn.execute(statement)
        if seed_fn is not None:
            seed_fn(conn, "2024-01-01T00:00:00Z")
    conn.executemany(
        "INSERT INTO history (id, revision, at, actor, kind, summary) VALUES (?,?,?,?,?,?)",
        [e[:6] for e in old.entries],
    )
    conn.executemany(
        "INSERT INTO history_scopes (history_id, scope, before, after) VALUES (?,?,?,?)",
        old.rows,
    )
    conn.executemany(
        f"INSERT INTO scopes ({SCOPE_COLUMNS}) VALUES ({','.join('?' * 12)})",
        list(old.scope_rows()),
    )
    conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 2")
    conn.execute("COMMIT")
    conn.close()


def test_sqlite_v2_history_migrates_and_keeps_its_meaning(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    old = old_history(seed=4)
    assert len(old.entries) > 10
    write_sqlite_v2(path, old)
    with open_store(path) as st:
        check_migrated(st, old)
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
    assert "history_scopes" not in tables and {"history_deltas", "history_changes"} <= tables
    assert conn.execute("PRAGMA user_version").fetchone() == (schema.SCHEMA_VERSION,)
    conn.close()


def test_migrated_history_is_smaller(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    old = old_history(seed=9)
    write_sqlite_v2(path, old)
    before = sum(len(r[2] or "") + len(r[3] or "") for r in old.rows)
    with open_store(path):
        pass
    conn = sqlite3.connect(path)
    (after,) = conn.execute("SELECT sum(length(delta)) FROM history_deltas").fetchone()
    conn.close()
    assert after < before / 3, (after, before)


def test_postgresql_v1_history_migrates_and_keeps_its_meaning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    from reconciler.store.postgres import schema as pg_schema
    from tests.fixtures_pg import fresh_database

    monkeypatch.setenv("MAILCTL_FINGERPRINT_KEY_FILE", str(tmp_path / "pg.key"))
    old = old_history(seed=4)
    with fresh_database() as url:
        with psycopg.connect(url) as conn:  # v1 as the v1 code made it: its DDL and seed
            statements, seed_fn = pg_schema.MIGRATIONS[0]
            for statement in statements:
                conn.execute(statement)
            for text, params in seed_fn("2024-01-01T00:00:00Z"):
                conn.execute(text, params)
            conn.execute("UPDATE mailctl_schema SET version = 1")
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO history (id, revision, at, actor, kind, summary)"
                    " OVERRIDING SYSTEM VALUE VALUES (%s,%s,%s,%s,%s,%s)",
                    [e[:6] for e in old.entries],
                )
                cur.executemany(
                    "INSERT INTO history_scopes (history_id, scope, before, after)"
                    " VALUES (%s,%s,%s,%s)",
                    old.rows,
                )
                cur.executemany(
                    f"INSERT INTO scopes ({SCOPE_COLUMNS}) VALUES ({','.join(['%s'] * 12)})",
                    list(old.scope_rows()),
                )
            conn.execute(
                "SELECT setval(pg_get_serial_sequence('history', 'id'), %s)", (len(old.entries),)
            )
        with open_store(url) as st:
            check_migrated(st, old)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regclass('history_scopes')").fetchone() == (None,)
            version = conn.execute("SELECT version FROM mailctl_schema").fetchone()
            assert version == (pg_schema.SCHEMA_VERSION,)
