"""The stored side of a plan, read without decoding every record (issue 11).

A plan needs the full record (spec, settings, sources, probe) only of the scopes whose
applied content differs from what the configs ask for. :func:`read_current` reads every
scope's :class:`~reconciler.store.ScopeDigest` (a digest of its stored content, its source
file, revisions and conditions) and the host's record, builds the desired state against
those rows, compares each desired scope's digest with the stored one, and reads the records
of the scopes that differ (or that nothing desires: held, pruned) in one
``scopes(names)`` call. Every other stored scope is an :class:`Unchanged`: its content *is*
the desired content (equal digests of equal canonical JSON), so it is taken from the
desired scope, shared, and nothing of it is decoded.

The result, :class:`Current`, maps every stored scope to a record the plan can compare and
write from, as the full ``scopes()`` dict did; ``full(scope)`` gives a whole
:class:`ScopeRecord` (read on demand) where one must be rewritten.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler.desired import DesiredScope, DesiredState, StoredScope
from reconciler.model import HOST_SCOPE
from reconciler.store import (
    Conditions,
    ScopeDigest,
    ScopeRecord,
    StateStore,
    StoreTx,
    content_digest,
)
from reconciler.store.records import TextMemo, dumps

__all__ = ["Current", "Stored", "Unchanged", "desired_digest", "read_current"]


class Stored(StoredScope, Protocol):
    """What ``compute_plan``/``write_plan`` read of a stored scope (``ScopeRecord`` and
    :class:`Unchanged` both are one)."""

    @property
    def conditions(self) -> Conditions: ...
    @property
    def last_applied_revision(self) -> str | None: ...
    @property
    def last_attempted_revision(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Unchanged:
    """A stored scope whose content equals its desired content: mode, spec, settings,
    sources and fingerprint are the desired scope's (the same objects); source file,
    conditions and revisions are the stored ones."""

    want: DesiredScope
    source_file: str | None
    conditions: Conditions
    last_applied_revision: str | None
    last_attempted_revision: str | None

    @property
    def scope(self) -> str:
        return self.want.scope

    @property
    def mode(self) -> str:
        return self.want.mode

    @property
    def spec(self) -> dict[str, Any]:
        return self.want.spec

    @property
    def effective(self) -> dict[str, Any]:
        return self.want.effective

    @property
    def sources(self) -> dict[str, str]:
        return self.want.sources

    @property
    def fingerprint(self) -> str | None:
        return self.want.fingerprint


def desired_digest(want: DesiredScope, text: Callable[[Any], str] = dumps) -> bytes:
    """What the store's digest of ``want``'s record would be once written. ``text``
    encodes what scopes share (a memo); a custom scope's own settings are encoded as they
    are and not kept (:meth:`Resolved.flat_once`)."""
    if want.mode == "custom":
        spec, effective = dumps(want.spec), dumps(want.resolved.flat_once())
    else:
        spec, effective = text(want.spec), text(want.effective)
    return content_digest(want.mode, spec, effective, text(want.sources), want.fingerprint)


Reader = StateStore | StoreTx


class Current(Mapping[str, Stored]):
    """Every stored scope: its :class:`ScopeRecord` if read, else :class:`Unchanged`."""

    __slots__ = ("_desired", "_entries", "_reader")

    def __init__(
        self,
        entries: dict[str, ScopeRecord | Unchanged],
        desired: DesiredState,
        reader: Reader,
    ) -> None:
        self._entries = entries
        self._desired = desired
        self._reader = reader

    def __getitem__(self, scope: str) -> Stored:
        entry = self._entries[scope]
        if isinstance(entry, Unchanged) and self._desired.scopes.get(scope) is not entry.want:
            return self.full(scope)  # taken out of the desired state since (a gate)
        return entry

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, scope: object) -> bool:
        return scope in self._entries

    def full(self, scope: str) -> ScopeRecord:
        """The whole stored record of ``scope`` (read now if it was not)."""
        entry = self._entries[scope]
        if isinstance(entry, ScopeRecord):
            return entry
        found = self._reader.scopes([scope]).get(scope)
        if found is None:
            raise KeyError(scope)
        self._entries[scope] = found
        return found


def full_record(current: Mapping[str, Stored], scope: str) -> ScopeRecord | None:
    """``current``'s whole record of ``scope`` (``None``: not stored)."""
    if scope not in current:
        return None
    if isinstance(current, Current):
        return current.full(scope)
    rec = current[scope]
    assert isinstance(rec, ScopeRecord)
    return rec


def read_current(
    reader: Reader, build: Callable[[Mapping[str, Any]], DesiredState]
) -> tuple[Current, DesiredState]:
    """Read the store for a plan: the digest rows and the host's record, ``build`` the
    desired state against them (``build_desired``: it reads each row's scope and source
    file, and the host's settings), then the records of the scopes that differ."""
    rows: dict[str, ScopeDigest | ScopeRecord] = dict(reader.scope_digests())
    host = reader.scopes([HOST_SCOPE]).get(HOST_SCOPE) if HOST_SCOPE in rows else None
    if host is not None:
        rows[HOST_SCOPE] = host
    desired = build(rows)
    text = TextMemo()  # the settings and sources inheriting scopes share: encoded once
    entries: dict[str, ScopeRecord | Unchanged] = {}
    differ: list[str] = []
    while rows:  # each row freed once compared: the rows and the entries never both whole
        scope, row = rows.popitem()
        want = desired.scopes.get(scope)
        if (
            want is not None
            and isinstance(row, ScopeDigest)
            and row.digest == desired_digest(want, text)
        ):
            # The desired scope's own strings where equal: nothing of the row is kept.
            same_file = row.source_file == want.source_file
            entries[want.scope] = Unchanged(
                want,
                want.source_file if same_file else row.source_file,
                row.conditions,
                row.last_applied_revision,
                row.last_attempted_revision,
            )
        elif isinstance(row, ScopeRecord):
            entries[scope] = row
        else:
            differ.append(scope)
    del rows, text
    if differ:
        entries.update(reader.scopes(differ))
    return Current(entries, desired, reader), desired
