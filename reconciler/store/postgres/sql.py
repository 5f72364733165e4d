"""SQL text of the PostgreSQL store (``%s`` placeholders; the row shapes are the shared
codec's, :mod:`reconciler.store.sqlite.codec`, so both backends decode alike)."""

from __future__ import annotations

from dataclasses import fields

from reconciler.store.records import HeldRecord
from reconciler.store.sqlite.codec import SCOPE_COLUMNS, ScopeRow

_PLAIN = ", ".join(f"s.{name}" for name in ScopeRow._fields[:-1])
_PACKED = (
    "'[' || s.spec || ',' || s.effective || ',' || s.sources || ',' || s.conditions || ','"
    " || coalesce(p.result, 'null') || ']'"
)
_FROM = " FROM scopes AS s LEFT JOIN probes AS p ON p.scope = s.scope"
SELECT_SCOPES = f"SELECT {_PLAIN}, {_PACKED}{_FROM}"
SCOPE_ORDER = " ORDER BY s.scope <> 'host', s.scope"

UPSERT_SCOPE = (
    f"INSERT INTO scopes ({', '.join(SCOPE_COLUMNS)})"
    f" VALUES ({', '.join(['%s'] * len(SCOPE_COLUMNS))}) ON CONFLICT (scope) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in SCOPE_COLUMNS[1:])
)
# (scope, result, scope): only for stored scopes, like the SQLite store.
UPSERT_PROBE = (
    "INSERT INTO probes (scope, result) SELECT %s, %s"
    " WHERE EXISTS (SELECT 1 FROM scopes WHERE scope = %s)"
    " ON CONFLICT (scope) DO UPDATE SET result = excluded.result"
)
LOG_PROBE = (
    "INSERT INTO probe_log (scope, result) SELECT %s, %s"
    " WHERE EXISTS (SELECT 1 FROM scopes WHERE scope = %s)"
)
# (scope, scope, keep)
CAP_PROBE_LOG = (
    "DELETE FROM probe_log WHERE scope = %s AND id <= (SELECT id FROM probe_log"
    " WHERE scope = %s ORDER BY id DESC LIMIT 1 OFFSET %s)"
)
SET_META = (
    "INSERT INTO meta (key, value) VALUES (%s, %s)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
BUMP_COUNTER = "UPDATE meta SET value = (value::bigint + 1)::text WHERE key = %s"

_HELD_COLUMNS = tuple(f.name for f in fields(HeldRecord))
SELECT_HELD = (
    f"SELECT {', '.join(_HELD_COLUMNS)} FROM held ORDER BY kind DESC, name <> 'host', name"
)
UPSERT_HELD = (
    f"INSERT INTO held ({', '.join(_HELD_COLUMNS)})"
    f" VALUES ({', '.join(['%s'] * len(_HELD_COLUMNS))})"
    " ON CONFLICT (name) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _HELD_COLUMNS[1:])
)

SELECT_HISTORY = "SELECT id, revision, at, actor, kind, summary FROM history"
HISTORY_OF_SCOPE = " WHERE id IN (SELECT history_id FROM history_changes WHERE scope = %s)"
HISTORY_TOUCHED = "SELECT history_id, scope FROM history_changes WHERE history_id = ANY(%s)"
INSERT_HISTORY = (
    "INSERT INTO history (revision, at, actor, kind, summary) VALUES (%s, %s, %s, %s, %s)"
    " RETURNING id"
)
INSERT_DELTA = "INSERT INTO history_deltas (history_id, n, delta) VALUES (%s, %s, %s)"
INSERT_CHANGE = (
    "INSERT INTO history_changes (history_id, scope, delta, file) VALUES (%s, %s, %s, %s)"
)
PRUNE_HISTORY = (
    "DELETE FROM history WHERE id NOT IN (SELECT id FROM history ORDER BY id DESC LIMIT %s)"
)
