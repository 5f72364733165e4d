"""PostgreSQL schema of the store: DDL and migrations, mirroring the SQLite schema.

The tables and columns are those of :mod:`reconciler.store.sqlite.schema` (same names, same
JSON text encoding, so the codec and SQL of :mod:`reconciler.store.sqlbase` serve both),
plus ``mailctl_lease`` (the leader lease) and ``mailctl_schema`` (version and application
marker, PostgreSQL's stand-in for SQLite's ``PRAGMA user_version``/``application_id``).
Text that is ordered (scope names) uses the ``"C"`` collation, so that PostgreSQL orders
scopes exactly as SQLite does.

``MIGRATIONS[i]`` takes a store from version ``i`` to ``i + 1``. They run inside one
transaction (PostgreSQL's DDL is transactional) under an advisory lock, so concurrent
openers migrate once. Append new migrations; never edit a released one.
"""

from __future__ import annotations

from typing import Any

import psycopg

from reconciler.errors import StoreCorruptError, StoreError
from reconciler.store.postgres import targetsync
from reconciler.store.postgres.dialect import POSTGRES_DDL
from reconciler.store.sqlbase import ddl, sql

APPLICATION = "mailctl"
MIGRATE_LOCK = 0x6D6C_6374_0000  # advisory lock keys ("mlct" + purpose)
WRITE_LOCK = 0x6D6C_6374_0001
LEASE_NAME = "leader"

_V1: tuple[str, ...] = (
    """CREATE TABLE mailctl_schema (
        application TEXT NOT NULL,
        version     INTEGER NOT NULL
    )""",
    *ddl.tables(POSTGRES_DDL, "meta", "scopes"),
    "CREATE INDEX scopes_source_file ON scopes(source_file)",
    *ddl.tables(POSTGRES_DDL, "probes", "probe_log", "history", "history_scopes", "held"),
    # The leader lease (DESIGN §13): who holds it, the fencing token (incremented on every
    # takeover) and when it expires (the server's clock; no daemon's clock matters).
    """CREATE TABLE mailctl_lease (
        name        TEXT PRIMARY KEY,
        holder      TEXT,
        token       BIGINT NOT NULL DEFAULT 0,
        expiry      TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
        acquired_at TIMESTAMPTZ,
        renewed_at  TIMESTAMPTZ,
        info        TEXT
    )""",
)


def _v1_seed(now: str) -> list[tuple[str, tuple[Any, ...]]]:
    return [
        (
            "INSERT INTO mailctl_schema (application, version) VALUES (%s, 0)",
            (APPLICATION,),
        ),
        (
            "INSERT INTO meta (key, value) VALUES (%s, %s), (%s, %s), (%s, %s)",
            (
                sql.META_CREATED_AT,
                now,
                sql.META_SUSPENDED,
                "0",
                sql.META_CHANGE_COUNTER,
                "0",
            ),
        ),
        ("INSERT INTO mailctl_lease (name) VALUES (%s)", (LEASE_NAME,)),
    ]


# v3: compact history (DESIGN §9; reconciler.store.history): an entry's distinct deltas
# once, one row per touched scope. v1's full-record rows are converted by
# ``history.convert_v1`` after the DDL, then dropped.
_V3: tuple[str, ...] = (
    """CREATE TABLE history_deltas (
        history_id BIGINT NOT NULL REFERENCES history(id) ON DELETE CASCADE,
        n          INTEGER NOT NULL,
        delta      TEXT NOT NULL,
        PRIMARY KEY (history_id, n)
    )""",
    *ddl.tables(POSTGRES_DDL, "history_changes"),
)


MIGRATIONS = (
    (_V1, _v1_seed),
    (targetsync.DDL, targetsync.no_seed),
    (_V3, targetsync.no_seed),  # and history.convert_v1 (PgStore._migrate_locked)
)

SCHEMA_VERSION = len(MIGRATIONS)

VERSION_QUERY = (
    "SELECT to_regclass('mailctl_schema') IS NOT NULL, to_regclass('meta') IS NOT NULL"
    " OR to_regclass('scopes') IS NOT NULL"
)
_CORRUPT_HINT = "point --store at a mailctl store or at an empty database"


def version_of(conn: psycopg.Connection[Any], location: str) -> int | None:
    """The store's schema version; ``None`` for an empty database. StoreError when the
    database holds something else, or a newer schema than this mailctl knows."""
    ours, theirs = conn.execute(VERSION_QUERY).fetchone() or (False, False)
    if not ours:
        if theirs:
            raise StoreCorruptError(
                f"{location} holds tables named like mailctl's but is not a mailctl store",
                hint="give mailctl its own database (see docs/postgresql.md)",
            )
        return None
    row = conn.execute("SELECT application, version FROM mailctl_schema").fetchone()
    if row is None or row[0] != APPLICATION:
        raise StoreCorruptError(f"{location} is not a mailctl store", hint=_CORRUPT_HINT)
    version = int(row[1])
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"store {location} has schema version {version}; this mailctl knows up"
            f" to {SCHEMA_VERSION}",
            hint="upgrade mailctl",
        )
    return version
