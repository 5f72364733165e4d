"""Row codec of the SQLite store: SQL text and named record encoding/decoding.

A scope is stored in the ``scopes`` table (twelve columns) and its latest probe result in
``probes``. Rows are read and written through the named tuples below, never by position.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from typing import Any, NamedTuple

from reconciler.store.records import HeldRecord, ScopeRecord, ScopeStatus, dumps

HISTORY_KINDS = frozenset({"apply", "rollback"})


class EncodedRecord(NamedTuple):
    """A :class:`ScopeRecord` as the store writes it: the ``scopes`` columns (JSON columns
    as canonical JSON text), then the probe result's JSON (``None``: no probe)."""

    scope: str
    mode: str
    spec: str
    effective: str
    sources: str
    fingerprint: str | None
    source_file: str | None
    last_applied_revision: str | None
    last_applied_at: str | None
    last_attempted_revision: str | None
    last_attempted_at: str | None
    conditions: str
    probe: str | None

    @property
    def scope_row(self) -> tuple[Any, ...]:
        """The values of :data:`SCOPE_COLUMNS`, in order."""
        return self[:-1]


SCOPE_COLUMNS = EncodedRecord._fields[:-1]
assert SCOPE_COLUMNS[0] == "scope" and "probe" not in SCOPE_COLUMNS


class ScopeRow(NamedTuple):
    """A row of :data:`SELECT_SCOPES`: the plain columns, then the JSON columns packed into
    one JSON array (one ``json.loads`` per row instead of five)."""

    scope: str
    mode: str
    fingerprint: str | None
    source_file: str | None
    last_applied_revision: str | None
    last_applied_at: str | None
    last_attempted_revision: str | None
    last_attempted_at: str | None
    packed: str  # [spec, effective, sources, conditions, probe]


class ScopeColumns(NamedTuple):
    """A row of :data:`SELECT_SCOPES_ALL`: the plain columns, then each JSON column as its
    own text (equal texts decode once)."""

    scope: str
    mode: str
    fingerprint: str | None
    source_file: str | None
    last_applied_revision: str | None
    last_applied_at: str | None
    last_attempted_revision: str | None
    last_attempted_at: str | None
    spec: str
    effective: str
    sources: str
    conditions: str
    probe: str | None


_PLAIN = ", ".join(f"s.{name}" for name in ScopeRow._fields[:-1])
_PACKED = (
    "'[' || s.spec || ',' || s.effective || ',' || s.sources || ',' || s.conditions || ','"
    " || coalesce(p.result, 'null') || ']'"
)
_FROM = " FROM scopes AS s LEFT JOIN probes AS p ON p.scope = s.scope"
SELECT_SCOPES = f"SELECT {_PLAIN}, {_PACKED}{_FROM}"
# Every scope at once: the JSON columns separately (no packed array), so that equal texts
# (every inheriting org has the host's effective settings and sources) decode once.
SELECT_SCOPES_ALL = (
    f"SELECT {_PLAIN}, s.spec, s.effective, s.sources, s.conditions, p.result{_FROM}"
)
SCOPE_ORDER = " ORDER BY s.scope <> 'host', s.scope"
# ScopeStatus rows: the plain columns but the fingerprint, then conditions and probe JSON.
SELECT_STATUSES = (
    "SELECT s.scope, s.mode, s.source_file, s.last_applied_revision, s.last_applied_at,"
    " s.last_attempted_revision, s.last_attempted_at, s.conditions, p.result" + _FROM + SCOPE_ORDER
)

UPSERT_SCOPE = (
    f"INSERT INTO scopes ({', '.join(SCOPE_COLUMNS)})"
    f" VALUES ({', '.join('?' * len(SCOPE_COLUMNS))}) ON CONFLICT (scope) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in SCOPE_COLUMNS[1:])
)
UPSERT_PROBE = (
    "INSERT INTO probes (scope, result) SELECT ?1, ?2"
    " WHERE EXISTS (SELECT 1 FROM scopes WHERE scope = ?1)"
    " ON CONFLICT (scope) DO UPDATE SET result = excluded.result"
)
LOG_PROBE = (
    "INSERT INTO probe_log (scope, result) SELECT ?1, ?2"
    " WHERE EXISTS (SELECT 1 FROM scopes WHERE scope = ?1)"
)
CAP_PROBE_LOG = (
    "DELETE FROM probe_log WHERE scope = ?1 AND id <= (SELECT id FROM probe_log"
    " WHERE scope = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)"
)
SET_META = (
    "INSERT INTO meta (key, value) VALUES (?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)

_HELD_COLUMNS = tuple(f.name for f in fields(HeldRecord))
SELECT_HELD = f"SELECT {', '.join(_HELD_COLUMNS)} FROM held"
UPSERT_HELD = (
    f"INSERT INTO held ({', '.join(_HELD_COLUMNS)}) VALUES ({', '.join('?' * len(_HELD_COLUMNS))})"
    " ON CONFLICT (name) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _HELD_COLUMNS[1:])
)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Building thousands of records at once otherwise triggers repeated full collections."""
    import gc

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def decode(row: ScopeRow) -> ScopeRecord:
    spec, effective, sources, conditions, probe = json.loads(row.packed)
    return ScopeRecord(
        scope=row.scope,
        mode=row.mode,
        spec=spec,
        effective=effective,
        sources=sources,
        fingerprint=row.fingerprint,
        source_file=row.source_file,
        last_applied_revision=row.last_applied_revision,
        last_applied_at=row.last_applied_at,
        last_attempted_revision=row.last_attempted_revision,
        last_attempted_at=row.last_attempted_at,
        conditions=conditions,
        probe=probe,
    )


class TextMemo:
    """``dumps`` that remembers by identity: values shared by many records (the host's
    settings in every inheriting org's record) are encoded once, one string; and the
    history of a transaction reuses the texts its upserts made. Lives one transaction."""

    __slots__ = ("_texts",)

    def __init__(self) -> None:
        self._texts: dict[int, tuple[Any, str]] = {}

    def __call__(self, value: Any) -> str:
        hit = self._texts.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        out = dumps(value)
        self._texts[id(value)] = (value, out)
        return out

    def clear(self) -> None:
        self._texts.clear()


def encode(rec: ScopeRecord, text: Callable[[Any], str] = dumps) -> EncodedRecord:
    """``text``: ``dumps``, or a :class:`TextMemo` of the transaction."""
    return EncodedRecord(
        scope=rec.scope,
        mode=rec.mode,
        spec=text(rec.spec),
        effective=text(rec.effective),
        sources=text(rec.sources),
        fingerprint=rec.fingerprint,
        source_file=rec.source_file,
        last_applied_revision=rec.last_applied_revision,
        last_applied_at=rec.last_applied_at,
        last_attempted_revision=rec.last_attempted_revision,
        last_attempted_at=rec.last_attempted_at,
        conditions=text(rec.conditions),
        probe=None if rec.probe is None else text(rec.probe),
    )


def read_scopes(conn: sqlite3.Connection) -> dict[str, ScopeRecord]:
    """All scopes, host first.

    Equal JSON texts decode to one shared value: at 100,000 orgs the records of the
    inheriting ones are otherwise 80,000 copies of the same settings. Records are values;
    nobody mutates their dicts."""
    rows = conn.execute(SELECT_SCOPES_ALL + SCOPE_ORDER)  # streamed: no list of all rows
    seen: dict[str, Any] = {}

    def shared(text: str) -> Any:
        hit = seen.get(text)
        if hit is None:
            hit = seen[text] = json.loads(text)
        return hit

    out: dict[str, ScopeRecord] = {}
    with gc_paused():
        for raw in rows:
            row = ScopeColumns._make(raw)
            out[row.scope] = ScopeRecord(
                scope=row.scope,
                mode=row.mode,
                spec=shared(row.spec),
                effective=shared(row.effective),
                sources=shared(row.sources),
                fingerprint=row.fingerprint,
                source_file=row.source_file,
                last_applied_revision=row.last_applied_revision,
                last_applied_at=row.last_applied_at,
                last_attempted_revision=row.last_attempted_revision,
                last_attempted_at=row.last_attempted_at,
                conditions=shared(row.conditions),
                probe=None if row.probe is None else shared(row.probe),
            )
    return out


def read_statuses(conn: sqlite3.Connection) -> tuple[ScopeStatus, ...]:
    """Every scope's status. Scopes sharing a probe (every inheriting org shares the host's)
    have identical conditions and probe JSON: each distinct text is decoded once and its
    value shared (read-only) by those rows — at 100,000 scopes a few thousand decodes and
    objects instead of 200,000."""
    rows = conn.execute(SELECT_STATUSES).fetchall()
    memo: dict[str | None, Any] = {None: None}
    loads = json.loads

    def value(text: str | None) -> Any:
        found = memo.get(text, memo)
        if found is memo:
            found = memo[text] = loads(text)  # type: ignore[arg-type]
        return found

    with gc_paused():
        return tuple(
            ScopeStatus(
                scope=row[0],
                mode=row[1],
                source_file=row[2],
                last_applied_revision=row[3],
                last_applied_at=row[4],
                last_attempted_revision=row[5],
                last_attempted_at=row[6],
                conditions=value(row[7]),
                probe=value(row[8]),
            )
            for row in rows
        )


def read_scope(conn: sqlite3.Connection, scope: str) -> ScopeRecord | None:
    row = conn.execute(SELECT_SCOPES + " WHERE s.scope = ?", (scope,)).fetchone()
    return None if row is None else decode(ScopeRow._make(row))


def read_held(conn: sqlite3.Connection) -> list[HeldRecord]:
    rows = conn.execute(SELECT_HELD + " ORDER BY kind DESC, name <> 'host', name").fetchall()
    return [HeldRecord(*row) for row in rows]


def held_row(h: HeldRecord) -> tuple[Any, ...]:
    return tuple(getattr(h, c) for c in _HELD_COLUMNS)
