"""The tables both SQL backends keep, defined once (the shared codec and SQL depend on them
being the same). A backend's migrations create them in its own :class:`Words`: the type
of ordered text, of an auto-numbered key and of a history id, and the option of a table
stored by its primary key. Each backend's released migrations run exactly the text they
always ran (``tests/test_store_ddl.py`` checks it); a new migration may use
:func:`create` or write its own DDL.
"""

from __future__ import annotations

from typing import NamedTuple


class Words(NamedTuple):
    """How a backend's DDL spells what differs."""

    text_key: str  # ordered text (scope and file names): sorts the same in every backend
    serial: str  # an auto-numbered primary key
    history_id: str  # a reference to ``history(id)``
    keyed: str  # after ``)`` of a table stored by its primary key ("" if no such option)


_TABLES = {
    "meta": """CREATE TABLE meta (
        key   {text_key} PRIMARY KEY,
        value TEXT
    ){keyed}""",
    "scopes": """CREATE TABLE scopes (
        scope                   {text_key} PRIMARY KEY
                                CHECK (scope = 'host' OR scope LIKE 'org/_%'),
        mode                    TEXT NOT NULL CHECK (mode IN ('default', 'custom')),
        spec                    TEXT NOT NULL,
        effective               TEXT NOT NULL,
        sources                 TEXT NOT NULL,
        fingerprint             TEXT,
        source_file             {text_key},
        last_applied_revision   TEXT,
        last_applied_at         TEXT,
        last_attempted_revision TEXT,
        last_attempted_at       TEXT,
        conditions              TEXT NOT NULL
    )""",
    "probes": """CREATE TABLE probes (
        scope  {text_key} PRIMARY KEY REFERENCES scopes(scope) ON DELETE CASCADE,
        result TEXT NOT NULL
    ){keyed}""",
    "probe_log": """CREATE TABLE probe_log (
        id     {serial},
        scope  {text_key} NOT NULL REFERENCES scopes(scope) ON DELETE CASCADE,
        result TEXT NOT NULL
    )""",
    "history": """CREATE TABLE history (
        id       {serial},
        revision TEXT NOT NULL,
        at       TEXT NOT NULL,
        actor    TEXT NOT NULL,
        kind     TEXT NOT NULL CHECK (kind IN ('apply', 'rollback')),
        summary  TEXT NOT NULL
    )""",
    # v1's full-record history; converted to history_changes and dropped since.
    "history_scopes": """CREATE TABLE history_scopes (
        history_id {history_id} NOT NULL REFERENCES history(id) ON DELETE CASCADE,
        scope      {text_key} NOT NULL,
        before     TEXT,
        after      TEXT,
        PRIMARY KEY (history_id, scope)
    )""",
    "held": """CREATE TABLE held (
        name        {text_key} PRIMARY KEY,
        kind        TEXT NOT NULL CHECK (kind IN ('scope', 'file')),
        reason      TEXT NOT NULL,
        message     TEXT NOT NULL,
        source_file TEXT,
        revision    TEXT,
        at          TEXT NOT NULL
    ){keyed}""",
    "history_changes": """CREATE TABLE history_changes (
        history_id {history_id} NOT NULL REFERENCES history(id) ON DELETE CASCADE,
        scope      {text_key} NOT NULL,
        delta      INTEGER NOT NULL,
        file       TEXT,
        PRIMARY KEY (history_id, scope)
    ){keyed}""",
    "target_sync": """CREATE TABLE target_sync (
        target  TEXT NOT NULL,
        scope   TEXT NOT NULL,
        state   TEXT NOT NULL,
        PRIMARY KEY (target, scope)
    ){keyed}""",
}

INDEXES = {
    "probe_log": "CREATE INDEX probe_log_scope ON probe_log(scope, id)",
    "history_scopes": "CREATE INDEX history_scopes_scope ON history_scopes(scope, history_id)",
    "history_changes": "CREATE INDEX history_changes_scope ON history_changes(scope, history_id)",
    "target_sync": "CREATE INDEX target_sync_scope ON target_sync(scope)",
}


def create(table: str, words: Words) -> str:
    """``CREATE TABLE`` of a shared table in a backend's words."""
    return _TABLES[table].format_map(words._asdict())


def tables(words: Words, *names: str) -> tuple[str, ...]:
    """The statements that create the shared tables ``names`` in order, each with its
    index, in a backend's words."""
    return tuple(s for n in names for s in (create(n, words), INDEXES.get(n)) if s is not None)
