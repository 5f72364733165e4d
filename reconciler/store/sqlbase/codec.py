"""Row codec of the SQL backends: a :class:`ScopeRecord` as the columns of ``scopes`` and
its probe's JSON, and back.

A scope is stored in the ``scopes`` table (twelve columns) and its latest probe result in
``probes``. Rows are written and read as :class:`EncodedRecord`, whose fields are the
record's, in the record's order (JSON fields as canonical JSON text).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from operator import attrgetter
from typing import Any, NamedTuple

from reconciler.store.records import HeldRecord, ScopeRecord, dumps

HISTORY_KINDS = frozenset({"apply", "rollback"})


class EncodedRecord(NamedTuple):
    """A :class:`ScopeRecord` as the store writes and reads it: the ``scopes`` columns
    (JSON columns as canonical JSON text), then the probe result's JSON (``None``: none)."""

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
JSON_FIELDS = frozenset({"spec", "effective", "sources", "conditions", "probe"})
_IS_JSON = tuple(name in JSON_FIELDS for name in EncodedRecord._fields)
_fields_of = attrgetter(*EncodedRecord._fields)
assert EncodedRecord._fields == tuple(f.name for f in fields(ScopeRecord))
assert SCOPE_COLUMNS[0] == "scope" and "probe" not in SCOPE_COLUMNS


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


class SharedLoads:
    """``json.loads`` that decodes each distinct text once and shares the value: at 100,000
    orgs the records of the inheriting ones are otherwise 80,000 copies of the same
    settings. Values are read-only (records are values; nobody mutates their dicts)."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[str, Any] = {}

    def __call__(self, text: str) -> Any:
        hit = self._seen.get(text)
        if hit is None:
            hit = self._seen[text] = json.loads(text)
        return hit


def encode(rec: ScopeRecord, text: Callable[[Any], str] = dumps) -> EncodedRecord:
    """``text``: ``dumps``, or a :class:`TextMemo` of the transaction. The fields are taken
    in the record's order, which is the row's (asserted above)."""
    scope, mode, spec, effective, sources, *plain, conditions, probe = _fields_of(rec)
    settings = (text(spec), text(effective), text(sources))
    probe_text = None if probe is None else text(probe)
    return EncodedRecord._make((scope, mode, *settings, *plain, text(conditions), probe_text))


def decode(row: tuple[Any, ...], loads: Callable[[str], Any] = json.loads) -> ScopeRecord:
    """The record of a row in :class:`EncodedRecord` order (``loads``: ``json.loads`` or a
    :class:`SharedLoads`). Positional (faster than 13 keywords): the row's order is the
    record's own (asserted above)."""
    return ScopeRecord(
        *[loads(v) if j and v is not None else v for v, j in zip(row, _IS_JSON, strict=True)]
    )


HELD_COLUMNS = tuple(f.name for f in fields(HeldRecord))


def held_row(h: HeldRecord) -> tuple[Any, ...]:
    return tuple(getattr(h, c) for c in HELD_COLUMNS)


def unpack_delta(value: str | bytes) -> Any:
    """A history delta as read back: JSON text, or zlib of it (see ``Dialect.pack_delta``)."""
    return json.loads(zlib.decompress(value) if isinstance(value, bytes) else value)
