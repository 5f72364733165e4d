"""How the PostgreSQL backend spells the shared SQL (:mod:`reconciler.store.sqlbase.dialect`):
psycopg's ``%s`` placeholders; a list bound as an array (``= ANY(%s)``); ``LIMIT NULL``
for all rows; history deltas kept as plain text."""

from __future__ import annotations

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
)
