"""The shared post-commit probe step (reconciler/probing.py) on a real SQLite store, and
against a real aiosmtpd server: results land per probe, never on changed settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler import conditions as cond
from reconciler.model import Effective, Sender, SmtpSettings
from reconciler.probe.result import ProbeOutcome, secret_unresolved_result
from reconciler.probing import (
    ProbeOptions,
    probe_after_commit,
    probe_inputs,
    record_outcome,
    settings_token,
)
from reconciler.secrets import SecretCache
from reconciler.store import ScopeRecord, StateStore, open_store
from tests.fixtures_smtp import RunningServer, ServerSpec

Factory = Callable[[ServerSpec], RunningServer]


def _settings(port: int, display: str = "Alerts") -> Effective:
    return Effective(
        smtp=SmtpSettings(host="127.0.0.1", port=port, tls="none", timeout_ms=5000),
        sender=Sender("alerts@example.test", display),
        probe_to="probe@example.test",
    )


def _record(scope: str, settings: Effective) -> ScopeRecord:
    return ScopeRecord(
        scope=scope,
        mode="custom",
        spec={},
        effective=settings.flat(),
        sources={},
        conditions=cond.applied("r1"),
    )


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    st = open_store(tmp_path / "s.db")
    yield st  # type: ignore[misc]
    st.close()


def test_a_result_is_stored_only_where_the_probed_settings_still_hold(store: StateStore) -> None:
    probed = _settings(2525)
    with store.transaction() as tx:
        tx.upsert_many(
            [_record("org/same", probed), _record("org/moved", probed), _record("org/held", probed)]
        )
    tokens = {s: settings_token(probed.flat(), None) for s in ("org/same", "org/moved", "org/held")}
    # Meanwhile: one scope's settings change, another turns Stalled.
    with store.transaction() as tx:
        tx.upsert(_record("org/moved", _settings(2526)))
        tx.set_conditions("org/held", cond.stalled("Invalid", "broken file"))
    result = secret_unresolved_result(probed, "not set")
    outcome = ProbeOutcome(result, tuple(tokens))

    stored = record_outcome(store, outcome, tokens)

    assert stored == ("org/same",)
    records = store.scopes()
    assert records["org/same"].probe is not None
    assert records["org/same"].probe["probe_id"] == result.probe_id
    assert not cond.is_ready(records["org/same"].conditions)  # the failed result speaks
    assert records["org/moved"].probe is None  # the stale result never lands
    assert records["org/held"].probe is None
    assert cond.is_stalled(records["org/held"].conditions)  # and never clears a stall


def test_probe_after_commit_dedupes_and_stores_each_result(
    store: StateStore, smtp_server: Factory
) -> None:
    server = smtp_server(ServerSpec(tls="none"))
    good = _settings(server.port)
    with store.transaction() as tx:
        tx.upsert_many(
            [
                _record("org/a", good),
                _record("org/b", good),
                _record("org/c", replace(good, probe_to="other@example.test")),
            ]
        )
    records = store.scopes()
    inputs = probe_inputs(records, sorted(records), SecretCache(store.fingerprint_key()))

    outcomes = probe_after_commit(store, inputs, ProbeOptions())

    assert sorted(len(o["scopes"]) for o in outcomes) == [1, 2]  # a and b share one probe
    assert all(o["status"] == "passed" for o in outcomes)
    assert len(server.recorder.messages) == 2
    after = store.scopes()
    assert {s: r.probe["status"] for s, r in after.items() if r.probe} == {
        "org/a": "passed",
        "org/b": "passed",
        "org/c": "passed",
    }
