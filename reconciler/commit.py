"""The one commit-with-history step: write changed records, record them in history, move the
store's revision and apply retention — used by ``apply`` (CLI and daemon, through
:func:`reconciler.reconcile.write_plan`) and by ``rollback``.

Runs inside the caller's open transaction, so the records and their history entry commit
together or not at all (DESIGN §3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from reconciler.store import HistoryChange, ScopeRecord, StoreTx

DEFAULT_HISTORY_KEEP = 1000  # history entries kept (``--history-keep``, DESIGN §9)


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


def commit_with_history(
    tx: StoreTx, commit: Commit, *, keep: int | None = DEFAULT_HISTORY_KEEP
) -> int | None:
    """Write ``commit`` in ``tx``; the new history entry's id (``None``: nothing changed).

    Applied scopes leave the held rows (they are no longer "never applied"); the store's
    current revision becomes ``commit.revision``; only the newest ``keep`` history entries
    are kept (``None``: none dropped)."""
    upserts = [c.after for c in commit.changes if c.after is not None]
    deletes = [c.scope for c in commit.changes if c.after is None]
    if upserts or commit.touch:
        tx.upsert_many([*upserts, *commit.touch])
    if deletes:
        tx.delete_many(deletes)
    if not commit.changes:
        return None
    tx.drop_held(r.scope for r in upserts)
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
