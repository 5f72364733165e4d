"""How the PostgreSQL backend spells the shared SQL (:mod:`reconciler.store.sqlbase.dialect`):
psycopg's ``%s`` placeholders; a list bound as an array (``= ANY(%s)``); ``LIMIT NULL``
for all rows; history deltas kept as plain text; the content digest computed by the server."""

from __future__ import annotations

from reconciler.store.sqlbase.ddl import Words
from reconciler.store.sqlbase.dialect import Dialect


def _as_text(text: str) -> str:
    return text


POSTGRES = Dialect(
    "postgresql",
    placeholder="%s",
    any_of="= ANY(%s)",
    bind_list=list,
    no_limit=None,
    pack_delta=_as_text,
    # records.content_digest, hashed by the server (sha256 since PostgreSQL 11): 16 bytes a
    # row come back instead of the spec, settings and sources texts
    content_digest="substring(sha256(convert_to(s.mode || chr(10) || s.spec || chr(10)"
    " || s.effective || chr(10) || s.sources || chr(10) || coalesce(s.fingerprint, ''),"
    " 'UTF8')) FROM 1 FOR 16)",
)

# The shared tables (sqlbase/ddl.py) in PostgreSQL's words: ordered text in the "C"
# collation, so that PostgreSQL orders scopes exactly as SQLite does.
POSTGRES_DDL = Words(
    text_key='TEXT COLLATE "C"',
    serial="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    history_id="BIGINT",
    keyed="",
)
