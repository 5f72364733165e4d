"""What really differs between the SQL backends, as one small value: :class:`Dialect`.

The shared SQL (:mod:`.sql`) is written once in one notation: ``?`` placeholders, and
``column = ANY(?)`` with one list bound for "column is one of these". A backend's dialect
turns that text into its driver's (``%s`` for psycopg; ``IN (SELECT value FROM
json_each(?))`` for SQLite, whose driver binds no lists) and binds the list in the form
that text takes. The rest of the difference is data: how a LIMIT says "no limit", and
how a history delta is kept (SQLite compresses long ones).

:class:`Conn` is the part of a DB-API connection the shared code uses; ``sqlite3`` and
``psycopg`` connections both have it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

ANY = "= ANY(?)"  # the shared notation of "is one of the bound list"


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> object: ...

    def close(self) -> None: ...


class Conn(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Cursor: ...

    def cursor(self) -> Cursor: ...


class Dialect:
    """How one backend spells the shared SQL (see the module docstring)."""

    __slots__ = (
        "_any",
        "_cache",
        "bind_list",
        "content_digest",
        "name",
        "no_limit",
        "pack_delta",
        "placeholder",
    )

    def __init__(
        self,
        name: str,
        *,
        placeholder: str,
        any_of: str,
        bind_list: Callable[[list[Any]], Any],
        no_limit: int | None,
        pack_delta: Callable[[str], str | bytes],
        content_digest: str | None = None,
    ) -> None:
        self.name = name
        self.placeholder = placeholder  # what ``?`` becomes
        self._any = any_of  # what ``= ANY(?)`` becomes (already in this dialect's notation)
        self.bind_list = bind_list  # the value bound for it
        self.no_limit = no_limit  # ``LIMIT`` of "all rows"
        self.pack_delta = pack_delta  # a history delta (JSON text) as stored
        # records.content_digest as an SQL expression over ``s.`` columns, when the server
        # can hash (the content then never crosses the wire); None: hashed in Python
        self.content_digest = content_digest
        self._cache: dict[str, str] = {}

    def sql(self, text: str) -> str:
        """``text`` (shared notation) in this dialect; each text is translated once."""
        found = self._cache.get(text)
        if found is None:
            if "%" in text:  # psycopg would read it as a placeholder
                raise ValueError(f"shared SQL must not contain '%': {text!r}")
            found = text.replace(ANY, "\0").replace("?", self.placeholder)
            found = self._cache[text] = found.replace("\0", self._any)
        return found

    def execute_many(self, conn: Conn, text: str, rows: Sequence[Sequence[Any]]) -> int:
        """``executemany`` of shared ``text``; how many rows it changed."""
        cur = conn.cursor()
        try:
            cur.executemany(self.sql(text), rows)
            return max(cur.rowcount, 0)
        finally:
            cur.close()

    def __repr__(self) -> str:
        return f"<Dialect {self.name}>"
