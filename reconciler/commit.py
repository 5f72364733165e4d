"""The one commit-with-history step: write changed records, record them in history, move the
store's revision and apply retention — used by ``apply`` (CLI and daemon, through
:func:`reconciler.reconcile.write_plan`) and by ``rollback``.

Runs inside the caller's open transaction, so the records and their history entry commit
together or not at all (DESIGN §3).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from reconciler.store import HistoryChange, ScopeRecord, StoreTx

DEFAULT_HISTORY_KEEP = 1000  # history entries kept (``--history-keep``, DESIGN §9)
T = TypeVar("T")
UPSERT_BATCH = 2000  # records given to one ``upsert_many`` (all in the one transaction)


@dataclass(frozen=True, slots=True)
class Commit:
    """What one run writes.

    ``changes``: the scopes whose applied settings change (created, updated, deleted), each
    with its record before and after; they make the history entry. ``touch``: records
    rewritten for metadata only (conditions, source file), not history."""

    revision: str
    actor: str
    kind: str  # "apply" | "rollback"
    summary: str
    changes: Sequence[HistoryChange]
    touch: Sequence[ScopeRecord] = field(default_factory=tuple)


class LazyChanges(Sequence[HistoryChange]):
    """History changes made when read, each time (``make`` of each item): a cascade's
    80,000 records before and after are never all in memory at once. Read as often as
    needed; equal each time (``make`` is pure)."""

    __slots__ = ("_items", "_make")

    def __init__(self, items: Sequence[T], make: Callable[[T], HistoryChange]) -> None:
        self._items: Sequence[Any] = items
        self._make: Callable[[Any], HistoryChange] = make

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[HistoryChange]:
        return map(self._make, self._items)

    @overload
    def __getitem__(self, index: int) -> HistoryChange: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[HistoryChange]: ...
    def __getitem__(self, index: int | slice) -> HistoryChange | Sequence[HistoryChange]:
        if isinstance(index, slice):
            return [self._make(item) for item in self._items[index]]
        return self._make(self._items[index])


def commit_with_history(
    tx: StoreTx, commit: Commit, *, keep: int | None = DEFAULT_HISTORY_KEEP
) -> int | None:
    """Write ``commit`` in ``tx``; the new history entry's id (``None``: nothing changed).

    Applied scopes leave the held rows (they are no longer "never applied"); the store's
    current revision becomes ``commit.revision``; only the newest ``keep`` history entries
    are kept (``None``: none dropped)."""
    changes = commit.changes
    deletes: list[str] = []
    applied: list[str] = []

    def upserts() -> Iterator[ScopeRecord]:  # one pass over the changes (they may be lazy)
        for change in changes:
            if change.after is None:
                deletes.append(change.scope)
            else:
                applied.append(change.scope)
                yield change.after

    # In slices: a backend encodes what it is given at once (80,000 cascaded records).
    writes = itertools.chain(upserts(), commit.touch)
    while part := list(itertools.islice(writes, UPSERT_BATCH)):
        tx.upsert_many(part)
    if deletes:
        tx.delete_many(deletes)
    if not changes:
        return None
    tx.drop_held(applied)
    hid = tx.record_history(
        revision=commit.revision,
        actor=commit.actor,
        kind=commit.kind,
        summary=commit.summary,
        changes=commit.changes,
    )
    tx.set_current_revision(commit.revision)
    if keep is not None:
        tx.prune_history(keep)
    return hid
