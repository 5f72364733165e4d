"""Compact history reproduces every past state exactly, against every store backend.

A seeded random sequence of writes — host changes cascading to the inheriting orgs, orgs
added and removed, mode flips, secret rotations, moved files, a key added to the flat
settings — each recorded as a history entry; beside it the full record of every scope
after each entry (what a full-record history keeps). Rewinding the current records through
the compact entries must give that full record for every entry, also after pruning.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest

from reconciler.errors import StoreError
from reconciler.store import HistoryChange, ScopeRecord, StateStore
from reconciler.store.history import Content, content_of, rewind

KEYS = ("smtp.host", "smtp.port", "smtp.tls", "from.address", "from.displayName")


def _org(name: str, host: ScopeRecord, rng: random.Random, custom: bool) -> ScopeRecord:
    if custom:
        eff = {k: f"{name}-{k}-{rng.randrange(9)}" for k in KEYS}
        eff["from.displayName"] = host.effective["from.displayName"]  # inherited anyway
        sources = dict.fromkeys(KEYS, "org") | {"from.displayName": "host"}
        spec: dict[str, Any] = {"mode": "custom", "smtp": {"host": eff["smtp.host"]}}
        fingerprint: str | None = f"{rng.getrandbits(64):016x}"
    else:
        eff, sources = dict(host.effective), dict.fromkeys(host.effective, "host")
        spec, fingerprint = {"mode": "default"}, host.fingerprint
    return ScopeRecord(
        f"org/{name}",
        spec["mode"],
        spec,
        eff,
        sources,
        fingerprint,
        f"configs/orgs/{name}.yaml",
        conditions={"Ready": {"status": "True", "reason": "Applied", "message": "x"}},
    )


def _cascade(host: ScopeRecord, org: ScopeRecord) -> ScopeRecord:
    """An org after a host change: every key it inherits follows the host."""
    eff = dict(org.effective)
    for key, source in org.sources.items():
        if source == "host":
            eff[key] = host.effective.get(key)
    fingerprint = host.fingerprint if org.mode == "default" else org.fingerprint
    for key in host.effective.keys() - eff.keys():  # a key new in the host's settings
        eff[key] = host.effective[key]
    sources = org.sources | {k: "host" for k in host.effective.keys() - org.sources.keys()}
    return replace(org, effective=eff, sources=sources, fingerprint=fingerprint)


def _step(state: dict[str, ScopeRecord], rng: random.Random, i: int) -> dict[str, ScopeRecord]:
    new = dict(state)
    host = state["host"]
    kind = rng.choice(["host", "host", "add", "remove", "flip", "secret", "move", "newkey"])
    if (kind in ("host", "newkey", "secret") and rng.random() < 0.6) or "host" not in state:
        eff = dict(host.effective)
        eff[rng.choice(KEYS)] = f"v{i}"
        if kind == "newkey":
            eff[f"probe.extra{i}"] = i
        fp = f"{rng.getrandbits(64):016x}" if kind == "secret" else host.fingerprint
        host = replace(host, effective=eff, sources=dict.fromkeys(eff, "host"), fingerprint=fp)
        new["host"] = host
        for scope, org in state.items():
            if scope != "host":
                new[scope] = _cascade(host, org)
    elif kind == "add":
        name = f"o{i:03d}"
        new[f"org/{name}"] = _org(name, host, rng, rng.random() < 0.4)
    elif kind == "remove":
        orgs = [s for s in state if s != "host"]
        if orgs:
            del new[rng.choice(orgs)]
    elif kind in ("flip", "secret", "move"):
        orgs = sorted(s for s in state if s != "host")
        if orgs:
            scope = rng.choice(orgs)
            org = state[scope]
            if kind == "flip":
                new[scope] = _org(scope[4:], host, rng, org.mode == "default")
            elif kind == "secret" and org.mode == "custom":
                new[scope] = replace(org, fingerprint=f"{rng.getrandbits(64):016x}")
            else:
                new[scope] = replace(org, source_file=f"configs/moved/{scope[4:]}-{i}.yaml")
    return new


def _write(
    store: StateStore, old: dict[str, ScopeRecord], new: dict[str, ScopeRecord], i: int
) -> int | None:
    changes = [
        HistoryChange(s, old.get(s), new.get(s))
        for s in sorted(old.keys() | new.keys())
        if old.get(s) != new.get(s)
    ]
    if not changes:
        return None
    with store.transaction() as tx:
        tx.upsert_many(c.after for c in changes if c.after is not None)
        tx.delete_many(c.scope for c in changes if c.after is None)
        hid = tx.record_history(
            revision=f"r{i}", actor="t", kind="apply", summary=str(i), changes=changes
        )
        # metadata outside history: it must not disturb the rewind
        tx.set_conditions_many((s, {"Stalled": {"status": "True"}}) for s in list(new)[:2])
    return hid


def _full(state: dict[str, ScopeRecord]) -> dict[str, Content]:
    return {s: content_of(r) for s, r in state.items()}


def _rewound(store: StateStore, hid: int) -> dict[str, Content]:
    newer = [e.id for e in store.history(limit=None, scopes=False) if e.id > hid]
    return rewind(store.scopes(), [store.history_changes(n) for n in newer])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_entry_rewinds_to_its_full_record_state(store: StateStore, seed: int) -> None:
    rng = random.Random(seed)
    base = ScopeRecord(
        "host",
        "custom",
        {"mode": "custom"},
        dict.fromkeys(KEYS, "h0"),
        dict.fromkeys(KEYS, "host"),
        "f0",
    )
    state: dict[str, ScopeRecord] = {}
    reference: dict[int, dict[str, Content]] = {}
    first = _write(store, state, {"host": base}, 0)
    assert first is not None
    state = {"host": base}
    reference[first] = _full(state)
    for i in range(1, 60):
        nxt = _step(state, rng, i)
        hid = _write(store, state, nxt, i)
        state = nxt
        if hid is not None:
            reference[hid] = _full(state)
    kinds = {d.action for hid in reference for d in store.history_changes(hid)}
    assert kinds == {"create", "update", "delete"}
    for hid, full in reference.items():
        assert _rewound(store, hid) == full, f"entry {hid}"

    keep = 7
    with store.transaction() as tx:
        tx.prune_history(keep)
    kept = sorted(reference)[-keep:]
    assert [e.id for e in store.history(limit=None)] == kept[::-1]
    for hid in kept:
        assert _rewound(store, hid) == reference[hid]
    with pytest.raises(StoreError):
        store.history_changes(sorted(reference)[0])


def test_a_cascade_is_one_delta_shared_by_its_orgs(store: StateStore) -> None:
    rng = random.Random(5)
    host = ScopeRecord(
        "host", "custom", {"mode": "custom"}, dict.fromkeys(KEYS, "h"), dict.fromkeys(KEYS, "host")
    )
    state = {"host": host} | {f"org/d{i}": _org(f"d{i}", host, rng, False) for i in range(50)}
    _write(store, {}, state, 0)
    moved = replace(host, effective=host.effective | {"smtp.host": "new"})
    nxt = {s: (moved if s == "host" else _cascade(moved, r)) for s, r in state.items()}
    hid = _write(store, state, nxt, 1)
    assert hid is not None
    deltas = store.history_changes(hid)
    assert len(deltas) == 51 and deltas[0].scope == "host"
    # a changed setting: its value and its source, before and after
    assert deltas[0].before == {"effective": {"smtp.host": "h"}, "sources": {"smtp.host": "host"}}
    assert deltas[0].after == {"effective": {"smtp.host": "new"}, "sources": {"smtp.host": "host"}}
    assert all(d.before == deltas[0].before and d.after == deltas[0].after for d in deltas[1:])
