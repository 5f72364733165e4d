"""The SQL both backends run, in the shared notation of :mod:`.dialect` (``?`` placeholders,
``column = ANY(?)`` for a bound list); a backend's :class:`~.dialect.Dialect` translates it.

The tables are the same in both backends (their DDL is each backend's ``schema``), so the
statements are too. Columns are named from the named tuples of :mod:`.codec`, never
written out twice.
"""

from __future__ import annotations

from dataclasses import fields

from reconciler.store.records import ScopeStatus
from reconciler.store.sqlbase.codec import HELD_COLUMNS, SCOPE_COLUMNS

# Keys of the ``meta`` table. (The fingerprint key is not among them: it lives in its own
# file, see ``sqlite/keyfile``; stores made before kept it here and are migrated on open.)
META_CREATED_AT = "created_at"
META_SUSPENDED = "suspended"
META_SUSPEND_REASON = "suspend_reason"
META_SUSPEND_AT = "suspend_at"
META_SUSPEND_BY = "suspend_by"
META_CURRENT_REVISION = "current_revision"
META_CHANGE_COUNTER = "change_counter"

SELECT_META = "SELECT key, value FROM meta WHERE key = ANY(?)"
DELETE_META = "DELETE FROM meta WHERE key = ANY(?)"
SET_META = (
    "INSERT INTO meta (key, value) VALUES (?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


def _upsert(table: str, columns: tuple[str, ...]) -> str:
    """Insert or replace a whole row, keyed by its first column."""
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        f" ON CONFLICT ({columns[0]}) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
    )


# ---------------------------------------------------------------- scopes and probes

_FROM = " FROM scopes AS s LEFT JOIN probes AS p ON p.scope = s.scope"
# Rows of codec.EncodedRecord: the scope's columns in order, then the probe's JSON.
SELECT_SCOPES = f"SELECT {', '.join(f's.{c}' for c in SCOPE_COLUMNS)}, p.result{_FROM}"
SCOPE_ORDER = " ORDER BY s.scope <> 'host', s.scope"
SELECT_SCOPE = SELECT_SCOPES + " WHERE s.scope = ?"
SCOPES_OF = " WHERE s.scope = ANY(?)"
# Rows of ScopeDigest but the digest, then the content columns it is computed from (or,
# with select_digests(expression), the digest the server computed).
_DIGEST_ROWS = (
    "SELECT s.scope, s.mode, s.source_file, s.last_applied_revision,"
    " s.last_attempted_revision, s.conditions, {content} FROM scopes AS s" + SCOPE_ORDER
)
SELECT_DIGESTS = _DIGEST_ROWS.format(content="s.spec, s.effective, s.sources, s.fingerprint")


def select_digests(expression: str | None) -> str:
    return SELECT_DIGESTS if expression is None else _DIGEST_ROWS.format(content=expression)


# Rows of ScopeStatus: its fields in order, the last (probe) from ``probes``.
SELECT_STATUSES = (
    f"SELECT {', '.join(f's.{f.name}' for f in fields(ScopeStatus)[:-1])}, p.result"
    + _FROM
    + SCOPE_ORDER
)
UPSERT_SCOPE = _upsert("scopes", SCOPE_COLUMNS)
DELETE_SCOPES = "DELETE FROM scopes WHERE scope = ANY(?)"  # their probes cascade
DELETE_PROBES = "DELETE FROM probes WHERE scope = ANY(?)"
SET_CONDITIONS = "UPDATE scopes SET conditions = ?"  # + attempt fields + WHERE_SCOPE
WHERE_SCOPE = " WHERE scope = ?"
CLAIMED_FILES = "SELECT source_file FROM scopes WHERE source_file = ANY(?)"

# (scope, result, scope): only for stored scopes.
UPSERT_PROBE = (
    "INSERT INTO probes (scope, result) SELECT ?, ?"
    " WHERE EXISTS (SELECT 1 FROM scopes WHERE scope = ?)"
    " ON CONFLICT (scope) DO UPDATE SET result = excluded.result"
)
LOG_PROBE = (
    "INSERT INTO probe_log (scope, result) SELECT ?, ?"
    " WHERE EXISTS (SELECT 1 FROM scopes WHERE scope = ?)"
)
# (scope, scope, keep)
CAP_PROBE_LOG = (
    "DELETE FROM probe_log WHERE scope = ? AND id <= (SELECT id FROM probe_log"
    " WHERE scope = ? ORDER BY id DESC LIMIT 1 OFFSET ?)"
)
SELECT_PROBE_LOG = "SELECT result FROM probe_log WHERE scope = ? ORDER BY id DESC LIMIT ?"

# ---------------------------------------------------------------- held

SELECT_HELD = f"SELECT {', '.join(HELD_COLUMNS)} FROM held ORDER BY kind DESC, name <> 'host', name"
UPSERT_HELD = _upsert("held", HELD_COLUMNS)
DELETE_HELD = "DELETE FROM held WHERE name = ANY(?)"

# ---------------------------------------------------------------- history

SELECT_HISTORY = "SELECT id, revision, at, actor, kind, summary FROM history"
HISTORY_OF_SCOPE = " WHERE id IN (SELECT history_id FROM history_changes WHERE scope = ?)"
NEWEST_FIRST = " ORDER BY id DESC LIMIT ?"
HISTORY_TOUCHED = "SELECT history_id, scope FROM history_changes WHERE history_id = ANY(?)"
HISTORY_EXISTS = "SELECT 1 FROM history WHERE id = ?"
HISTORY_DELTAS = "SELECT n, delta FROM history_deltas WHERE history_id = ?"
HISTORY_CHANGES = "SELECT scope, delta, file FROM history_changes WHERE history_id = ?"
HISTORY_CHANGE = (
    "SELECT d.delta, c.file FROM history_changes AS c JOIN history_deltas AS d"
    " ON d.history_id = c.history_id AND d.n = c.delta"
    " WHERE c.history_id = ? AND c.scope = ?"
)
INSERT_HISTORY = (
    "INSERT INTO history (revision, at, actor, kind, summary) VALUES (?, ?, ?, ?, ?) RETURNING id"
)
INSERT_DELTA = "INSERT INTO history_deltas (history_id, n, delta) VALUES (?, ?, ?)"
INSERT_CHANGE = "INSERT INTO history_changes (history_id, scope, delta, file) VALUES (?, ?, ?, ?)"
PRUNE_HISTORY = (
    "DELETE FROM history WHERE id NOT IN (SELECT id FROM history ORDER BY id DESC LIMIT ?)"
)
V1_HISTORY_IDS = "SELECT id FROM history ORDER BY id"
V1_HISTORY_ROWS = (
    "SELECT scope, before, after FROM history_scopes WHERE history_id = ? ORDER BY scope"
)

# ---------------------------------------------------------------- targets' sync state

SELECT_SYNC = "SELECT state FROM target_sync"
SYNC_ORDER = " ORDER BY target, scope"
SYNC_OF_SCOPES = " WHERE scope = ANY(?)"
UPSERT_SYNC = (
    "INSERT INTO target_sync (target, scope, state) VALUES (?, ?, ?)"
    " ON CONFLICT (target, scope) DO UPDATE SET state = excluded.state"
)
DELETE_SYNC = "DELETE FROM target_sync WHERE target = ? AND scope = ?"
