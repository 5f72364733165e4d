"""Compact history (DESIGN §9): what a history entry keeps, shared by every backend.

An entry keeps, per touched scope, only what changed in the scope's *content* — the fields
that make its applied settings: :data:`CONTENT_FIELDS` — never the whole record twice.
Metadata (applied/attempted revision and time, conditions, probe) is not history: the
entry's own revision and time say when.

- A **create** keeps the content after; a **delete** the content before.
- An **update** keeps the changed fields before and after; ``effective`` and ``sources``
  (flat dicts with the same keys) only the changed settings, each with value and source.
- The source file is kept beside the delta (``file``), so that scopes whose content changed
  the same way share one delta: a host change stores the host's delta and **one** delta
  for all cascaded orgs that changed alike, plus the list of those orgs.

:func:`compact` turns ``HistoryChange`` values (full records) into an :class:`EntryRows`
that a backend stores as-is (deltas as JSON text, one row per scope pointing to its delta);
:func:`rewind` walks entries backwards from the current records, which is how
``rollback`` finds the settings in effect right after any kept entry, exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.store.records import HistoryChange, ScopeRecord, dumps

__all__ = [
    "CONTENT_FIELDS",
    "Compactor",
    "Content",
    "EntryRows",
    "ScopeDelta",
    "compact",
    "content_of",
    "delta_text",
    "expand",
    "rewind",
]

CONTENT_FIELDS = ("mode", "spec", "effective", "sources", "fingerprint", "source_file")
_KEYED = ("effective", "sources")  # flat dicts: an update keeps only their changed keys
_DELTA_FIELDS = ("mode", "spec", "effective", "sources", "fingerprint")  # source_file aside

Content = dict[str, Any]  # CONTENT_FIELDS -> value
Encoder = Callable[[Any], str]  # canonical JSON of a value (records.dumps, or a memo of it)


def content_of(rec: ScopeRecord) -> Content:
    return {
        "mode": rec.mode,
        "spec": rec.spec,
        "effective": rec.effective,
        "sources": rec.sources,
        "fingerprint": rec.fingerprint,
        "source_file": rec.source_file,
    }


@dataclass(frozen=True, slots=True)
class ScopeDelta:
    """What one history entry changed in one scope.

    ``before``/``after``: the changed content fields (``None``: the scope did not exist on
    that side; then the other side has every field). For ``effective`` and ``sources``
    an update holds only the changed keys unless the field is in ``whole``."""

    scope: str
    before: Content | None
    after: Content | None
    whole: frozenset[str] = frozenset()

    @property
    def action(self) -> str:
        if self.before is None:
            return "create"
        return "delete" if self.after is None else "update"

    def undo(self, state: dict[str, Content]) -> None:
        """Turn ``state`` (scope -> content right after the entry) into the state before."""
        if self.before is None:
            state.pop(self.scope, None)
            return
        if self.after is None:
            state[self.scope] = dict(self.before)
            return
        cur = state.get(self.scope)
        if cur is None:  # a kept entry older than a pruned create: nothing to go back to
            return
        state[self.scope] = _merge(cur, self.before, self.whole)

    def redo(self, state: dict[str, Content]) -> None:
        """Turn ``state`` (right before the entry) into the state right after it."""
        if self.after is None:
            state.pop(self.scope, None)
            return
        if self.before is None:
            state[self.scope] = dict(self.after)
            return
        cur = state.get(self.scope)
        if cur is not None:
            state[self.scope] = _merge(cur, self.after, self.whole)


def _merge(cur: Content, part: Content, whole: frozenset[str]) -> Content:
    out = dict(cur)
    for name, value in part.items():
        if name in _KEYED and name not in whole:
            out[name] = {**cur.get(name, {}), **value}
        else:
            out[name] = value
    return out


def _delta(before: ScopeRecord | None, after: ScopeRecord | None) -> dict[str, Any]:
    """The JSON-able delta of one scope without its source file (see :func:`delta_text`)."""
    if before is None or after is None:
        rec = after if before is None else before
        assert rec is not None
        side = {k: v for k, v in content_of(rec).items() if k != "source_file"}
        return {"a": side} if before is None else {"b": side}
    b: dict[str, Any] = {}
    a: dict[str, Any] = {}
    whole: list[str] = []
    old, new = content_of(before), content_of(after)
    # A changed setting keeps its value *and* its source on both sides, also when only one
    # of the two changed, so that an entry alone tells what changed from where to where.
    changed_keys: set[str] = set()
    keyed = (
        all(
            isinstance(old[n], dict) and isinstance(new[n], dict) and old[n].keys() == new[n].keys()
            for n in _KEYED
        )
        and old["effective"].keys() == old["sources"].keys()
    )
    if keyed:
        for name in _KEYED:
            ov, nv = old[name], new[name]
            changed_keys.update(k for k in nv if ov[k] != nv[k])
    for name in _DELTA_FIELDS:
        ov, nv = old[name], new[name]
        if name in _KEYED and keyed:
            if changed_keys:
                keys = sorted(changed_keys)
                b[name] = {k: ov[k] for k in keys}
                a[name] = {k: nv[k] for k in keys}
        elif ov != nv:
            b[name], a[name] = ov, nv
            if name in _KEYED:
                whole.append(name)
    out: dict[str, Any] = {"b": b, "a": a}
    if whole:
        out["w"] = whole
    return out


def delta_text(
    before: ScopeRecord | None, after: ScopeRecord | None, encode: Encoder = dumps
) -> str:
    """Canonical JSON of a scope's delta: equal changes give equal text (stored once).

    ``encode`` (``dumps`` or a memo of it) encodes the whole values of a created or deleted
    scope: the transaction that wrote the record encoded them already."""
    if before is not None and after is not None:
        return dumps(_delta(before, after))
    rec = after if before is None else before
    assert rec is not None
    side = (
        f'{{"effective":{encode(rec.effective)},"fingerprint":{dumps(rec.fingerprint)},'
        f'"mode":{dumps(rec.mode)},"sources":{encode(rec.sources)},"spec":{encode(rec.spec)}}}'
    )
    return f'{{"a":{side}}}' if before is None else f'{{"b":{side}}}'


@dataclass(frozen=True, slots=True)
class EntryRows:
    """One entry as a backend stores it: ``deltas[i]`` is JSON text; each scope row is
    ``(scope, delta index, file)`` with ``file`` the JSON ``[before, after]`` of its source
    file, or ``None`` when that did not change."""

    deltas: list[str]
    scopes: list[tuple[str, int, str | None]]


class Compactor:
    """Builds one entry's rows change by change (equal deltas are stored once)."""

    __slots__ = ("_encode", "_index", "deltas")

    def __init__(self, encode: Encoder = dumps) -> None:
        self._encode = encode
        self._index: dict[str, int] = {}
        self.deltas: list[str] = []

    def add(self, change: HistoryChange) -> tuple[str, int, str | None] | None:
        """The scope row of ``change`` (``None``: nothing to keep); new deltas are appended
        to :attr:`deltas`."""
        before, after = change.before, change.after
        if before is None and after is None:
            return None
        text = delta_text(before, after, self._encode)
        n = self._index.get(text)
        if n is None:
            n = self._index[text] = len(self.deltas)
            self.deltas.append(text)
        old = None if before is None else before.source_file
        new = None if after is None else after.source_file
        return (change.scope, n, None if old == new else dumps([old, new]))


def compact(changes: Iterable[HistoryChange], encode: Encoder = dumps) -> EntryRows:
    builder = Compactor(encode)
    rows = [row for c in changes if (row := builder.add(c)) is not None]
    return EntryRows(builder.deltas, rows)


def expand(scope: str, delta: Mapping[str, Any], file: str | None) -> ScopeDelta:
    """A stored row back as a :class:`ScopeDelta` (``delta`` already decoded, shareable)."""
    files = json.loads(file) if file is not None else None
    before = delta.get("b")
    after = delta.get("a")
    if before is not None:
        before = dict(before)
        if files is not None or after is None:
            before["source_file"] = files[0] if files is not None else None
    if after is not None:
        after = dict(after)
        if files is not None or before is None:
            after["source_file"] = files[1] if files is not None else None
    return ScopeDelta(scope, before, after, frozenset(delta.get("w", ())))


def rewind(
    current: Mapping[str, ScopeRecord], newer: Sequence[Sequence[ScopeDelta]]
) -> dict[str, Content]:
    """The content of every scope right after an entry, from the current records and the
    deltas of every later entry, ``newer`` newest first."""
    state = {scope: content_of(rec) for scope, rec in current.items()}
    for entry in newer:
        for delta in entry:
            delta.undo(state)
    return state
