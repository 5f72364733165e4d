"""``scope_digests`` and ``scopes(names)`` (the plan's light read, issue 11), against every
store backend: the digest is :func:`content_digest` of the stored columns on both backends,
it moves with the content and only with it, and a partial read equals the full one."""

from __future__ import annotations

from reconciler.conditions import applied
from reconciler.store import ScopeRecord, StateStore, content_digest
from reconciler.store.records import dumps

SPEC = {"mode": "custom", "smtp": {"host": "smtp.acme.example", "port": 587}}
EFFECTIVE = {"smtp.host": "smtp.acme.example", "smtp.port": 587, "sender.name": "Ünïcode ✓"}
SOURCES = {"smtp.host": "org", "smtp.port": "org", "sender.name": "org"}


def _records() -> list[ScopeRecord]:
    host = ScopeRecord("host", "default", {"mode": "default"}, {"smtp.port": 25}, {})
    acme = ScopeRecord(
        "org/acme",
        "custom",
        SPEC,
        EFFECTIVE,
        SOURCES,
        fingerprint="ab" * 32,
        source_file="orgs/acme.yaml",
        last_applied_revision="r1",
        last_attempted_revision="r2",
        conditions=applied("r1"),
    )
    beta = ScopeRecord("org/beta", "default", {"mode": "default"}, {"smtp.port": 25}, {})
    return [host, acme, beta]


def _digest(rec: ScopeRecord) -> bytes:
    return content_digest(
        rec.mode, dumps(rec.spec), dumps(rec.effective), dumps(rec.sources), rec.fingerprint
    )


def test_digests_are_content_digest_of_the_record_on_every_backend(store: StateStore) -> None:
    records = _records()
    with store.transaction() as tx:
        tx.upsert_many(records)
        inside = tx.scope_digests()
    found = store.scope_digests()
    assert found == inside
    assert list(found) == ["host", "org/acme", "org/beta"]  # host first, then by name
    for rec in records:
        row = found[rec.scope]
        assert row.digest == _digest(rec)
        assert len(row.digest) == 16
        assert (row.mode, row.source_file, row.conditions) == (
            rec.mode,
            rec.source_file,
            rec.conditions,
        )
        assert (row.last_applied_revision, row.last_attempted_revision) == (
            rec.last_applied_revision,
            rec.last_attempted_revision,
        )
    assert found["host"].digest == found["org/beta"].digest  # same content, same digest


def test_the_digest_moves_with_the_content_only(store: StateStore) -> None:
    records = _records()
    with store.transaction() as tx:
        tx.upsert_many(records)
    before = store.scope_digests()
    acme = records[1]
    with store.transaction() as tx:  # metadata only: conditions, revisions, file
        tx.upsert(
            ScopeRecord(
                **{
                    **acme.to_dict(),
                    "source_file": "orgs/moved.yaml",
                    "last_applied_revision": "r9",
                    "conditions": {},
                }
            )
        )
    assert store.scope_digests()["org/acme"].digest == before["org/acme"].digest
    for change in (
        {"fingerprint": None},
        {"fingerprint": "cd" * 32},
        {"mode": "default"},
        {"spec": {**SPEC, "x": 1}},
        {"effective": {**EFFECTIVE, "smtp.port": 2525}},
        {"sources": {**SOURCES, "smtp.port": "host"}},
    ):
        with store.transaction() as tx:
            tx.upsert(ScopeRecord(**{**acme.to_dict(), **change}))
        assert store.scope_digests()["org/acme"].digest != before["org/acme"].digest, change


def test_scopes_of_names_equal_the_full_read(store: StateStore) -> None:
    with store.transaction() as tx:
        tx.upsert_many(_records())
        assert tx.scopes(["org/beta", "org/gone"]) == {"org/beta": tx.get("org/beta")}
    full = store.scopes()
    part = store.scopes(["org/acme", "host", "org/none"])
    assert list(part) == ["host", "org/acme"]
    assert part == {s: full[s] for s in ("host", "org/acme")}
    assert store.scopes([]) == {}
