"""How the SQLite backend spells the shared SQL (:mod:`reconciler.store.sqlbase.dialect`):
``?`` placeholders; a list bound as JSON text and read with ``json_each`` (``sqlite3``
binds no lists, and a JSON array has no limit on the number of host parameters);
``LIMIT -1`` for all rows; long history deltas kept zlib-compressed."""

from __future__ import annotations

import json
import zlib

from reconciler.store.sqlbase.ddl import Words
from reconciler.store.sqlbase.dialect import Dialect

PACK_OVER = 200  # deltas longer than this are kept zlib-compressed (a BLOB in ``delta``)


def pack(text: str) -> str | bytes:
    """A delta as stored: JSON text, or zlib of it when long (a created org's ~1.5 KB
    becomes ~0.5 KB; the host change and its cascade stay small text)."""
    return zlib.compress(text.encode(), 6) if len(text) > PACK_OVER else text


SQLITE = Dialect(
    "sqlite",
    placeholder="?",
    any_of="IN (SELECT value FROM json_each(?))",
    bind_list=json.dumps,
    no_limit=-1,
    pack_delta=pack,
)

# The shared tables (sqlbase/ddl.py) in SQLite's words: a table keyed by text is stored by
# its key (WITHOUT ROWID) where its rows are small.
SQLITE_DDL = Words(
    text_key="TEXT",
    serial="INTEGER PRIMARY KEY AUTOINCREMENT",
    history_id="INTEGER",
    keyed=" WITHOUT ROWID",
)
