"""Row codec of the SQLite store: SQL text, record encoding/decoding, error mapping."""

from __future__ import annotations

import gc
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any

from reconciler.errors import StoreCorruptError, StoreError, StoreLockedError
from reconciler.store.records import (
    HeldRecord,
    ScopeRecord,
    dumps,
)

HISTORY_KINDS = frozenset({"apply", "rollback"})

_RECORD_COLUMNS = (
    "scope, mode, spec, effective, sources, fingerprint, source_file, last_applied_revision,"
    " last_applied_at, last_attempted_revision, last_attempted_at, conditions"
)
# The JSON columns come back as one JSON array per row: one json.loads instead of five.
_SELECT_SCOPES = (
    "SELECT s.scope, s.mode, s.fingerprint, s.source_file, s.last_applied_revision,"
    " s.last_applied_at, s.last_attempted_revision, s.last_attempted_at,"
    " '[' || s.spec || ',' || s.effective || ',' || s.sources || ',' || s.conditions || ','"
    " || coalesce(p.result, 'null') || ']'"
    "{extra} FROM scopes AS s LEFT JOIN probes AS p ON p.scope = s.scope"
)
# Inside a write transaction the separate columns come along too, so that records read
# there can be written to history without encoding them again.
_SELECT_SCOPES_TX = _SELECT_SCOPES.format(
    extra=", s.spec, s.effective, s.sources, s.conditions, p.result"
)
_SELECT_SCOPES = _SELECT_SCOPES.format(extra="")
_SCOPE_ORDER = " ORDER BY s.scope <> 'host', s.scope"
_UPSERT_SCOPE = (
    f"INSERT INTO scopes ({_RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (scope) DO UPDATE SET mode = excluded.mode, spec = excluded.spec,"
    " effective = excluded.effective, sources = excluded.sources,"
    " fingerprint = excluded.fingerprint, source_file = excluded.source_file,"
    " last_applied_revision = excluded.last_applied_revision,"
    " last_applied_at = excluded.last_applied_at,"
    " last_attempted_revision = excluded.last_attempted_revision,"
    " last_attempted_at = excluded.last_attempted_at, conditions = excluded.conditions"
)
_UPSERT_PROBE = (
    "INSERT INTO probes (scope, result) SELECT ?1, ?2"
    " WHERE EXISTS (SELECT 1 FROM scopes WHERE scope = ?1)"
    " ON CONFLICT (scope) DO UPDATE SET result = excluded.result"
)
_LOG_PROBE = (
    "INSERT INTO probe_log (scope, result) SELECT ?1, ?2"
    " WHERE EXISTS (SELECT 1 FROM scopes WHERE scope = ?1)"
)
_CAP_PROBE_LOG = (
    "DELETE FROM probe_log WHERE scope = ?1 AND id <= (SELECT id FROM probe_log"
    " WHERE scope = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)"
)
_SET_META = (
    "INSERT INTO meta (key, value) VALUES (?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)

_LOCK_HINT = "nothing is wrong with the store: retry, or raise --lock-timeout"
_CORRUPT_HINT = "restore it from a backup or move it away; `mailctl apply` creates a new store"


def utc_now() -> str:
    """ISO-8601 UTC timestamp with seconds precision (``2024-05-01T12:00:00Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _scope_key(scope: str) -> tuple[bool, str]:
    return (scope != "host", scope)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Building thousands of records at once otherwise triggers repeated full collections."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _record(row: Sequence[Any]) -> ScopeRecord:
    spec, effective, sources, conditions, probe = json.loads(row[8])
    return ScopeRecord(
        row[0],
        row[1],
        spec,
        effective,
        sources,
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        conditions,
        probe,
    )


# A row as the store writes it: the 12 ``scopes`` columns, then the probe JSON (or None).
Encoded = tuple[Any, ...]


def _encode(rec: ScopeRecord) -> Encoded:
    return (
        rec.scope,
        rec.mode,
        dumps(rec.spec),
        dumps(rec.effective),
        dumps(rec.sources),
        rec.fingerprint,
        rec.source_file,
        rec.last_applied_revision,
        rec.last_applied_at,
        rec.last_attempted_revision,
        rec.last_attempted_at,
        dumps(rec.conditions),
        None if rec.probe is None else dumps(rec.probe),
    )


def _str(value: str | None) -> str:
    return "null" if value is None else encode_basestring_ascii(value)


def _record_json(e: Encoded) -> str:
    """``dumps(rec.to_dict())``, assembled from the already encoded columns."""
    return (
        f'{{"conditions":{e[11]},"effective":{e[3]},"fingerprint":{_str(e[5])},'
        f'"last_applied_at":{_str(e[8])},"last_applied_revision":{_str(e[7])},'
        f'"last_attempted_at":{_str(e[10])},"last_attempted_revision":{_str(e[9])},'
        f'"mode":{_str(e[1])},"probe":{"null" if e[12] is None else e[12]},'
        f'"scope":{_str(e[0])},"source_file":{_str(e[6])},"sources":{e[4]},"spec":{e[2]}}}'
    )


_SELECT_HELD = "SELECT name, kind, reason, message, source_file, revision, at FROM held"
_UPSERT_HELD = (
    "INSERT INTO held (name, kind, reason, message, source_file, revision, at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET kind = excluded.kind,"
    " reason = excluded.reason, message = excluded.message,"
    " source_file = excluded.source_file, revision = excluded.revision, at = excluded.at"
)


def _held(conn: sqlite3.Connection) -> list[HeldRecord]:
    rows = conn.execute(_SELECT_HELD + " ORDER BY kind DESC, name <> 'host', name").fetchall()
    return [HeldRecord(*row) for row in rows]


def _record_from_json(text: str | None) -> ScopeRecord | None:
    return None if text is None else ScopeRecord.from_dict(json.loads(text))


def _map_error(exc: sqlite3.Error, path: Path, action: str, lock_timeout_s: float) -> StoreError:
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = _one_line(exc)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
        from reconciler.store.lock import holder

        daemon = holder(path)
        who = f"; the mailctl daemon ({daemon}) uses this store" if daemon else ""
        return StoreLockedError(
            f"store {path} is busy: another mailctl process (apply, rollback, suspend or"
            f" the daemon) is writing to it (waited {lock_timeout_s:g} s){who}",
            hint=_LOCK_HINT,
        )
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "not a database" in text:
        return StoreCorruptError(
            f"store {path} is not a valid mailctl store ({text})", hint=_CORRUPT_HINT
        )
    hint = "check the store file and its directory"
    if name.startswith("SQLITE_READONLY"):
        hint = "check write permission on the store file and its directory"
    elif name.startswith("SQLITE_CANTOPEN"):
        hint = "check that the store's directory exists and is writable"
    elif name.startswith("SQLITE_FULL"):
        hint = "free disk space"
    elif name.startswith("SQLITE_CONSTRAINT"):
        hint = "this is a mailctl bug: the data broke a store constraint; please report it"
    return StoreError(f"store {path}: {action} failed: {text}", hint=hint)
