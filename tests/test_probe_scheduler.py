"""Deduplication and bounded concurrency, counted on real aiosmtpd servers."""

from __future__ import annotations

import asyncio
import dataclasses
import email
from collections.abc import Callable

import pytest

from reconciler.model import org_scope
from reconciler.probe import ProbeTarget, dedupe_key, probe_outcomes, probe_targets
from tests.fixtures_smtp import Pki, RunningServer, ServerSpec

Factory = Callable[[ServerSpec], RunningServer]
PASSWORD = "hunter2-hunter2"


def test_ten_thousand_inheriting_scopes_share_one_probe(smtp_server: Factory, pki: Pki) -> None:
    server = smtp_server(ServerSpec(tls="starttls", users={"alice": PASSWORD}))
    settings = server.settings(username="alice")
    targets = [ProbeTarget(org_scope(f"org{i:05d}"), settings, PASSWORD) for i in range(10_000)]
    targets.append(ProbeTarget("host", settings, PASSWORD))

    results = asyncio.run(probe_targets(targets, ca_file=pki.ca_file))

    assert len(results) == 10_001
    assert server.recorder.sessions == 1
    assert len({id(r) for r in results.values()}) == 1
    shared = results["host"]
    assert shared.passed and shared.sent
    # The one shared test message names the host scope (host sorts first).
    msg = email.message_from_bytes(server.recorder.messages[0][2])
    assert msg["Subject"] == f"mailctl probe host {shared.probe_id}"


def test_distinct_credentials_and_recipients_are_not_merged(smtp_server: Factory, pki: Pki) -> None:
    server = smtp_server(ServerSpec(tls="starttls", users={"alice": PASSWORD, "bob": "pw-bob"}))
    alice = server.settings(username="alice")
    bob = server.settings(username="bob")
    other_rcpt = dataclasses.replace(alice, probe_to="someone-else@example.test")
    targets = [
        ProbeTarget("host", alice, PASSWORD),
        ProbeTarget("org/a", alice, PASSWORD),
        ProbeTarget("org/b", alice, "rotated-password"),  # same settings, other secret
        ProbeTarget("org/c", bob, "pw-bob"),
        ProbeTarget("org/d", other_rcpt, PASSWORD),
    ]
    outcomes = asyncio.run(probe_outcomes(targets, ca_file=pki.ca_file))

    by_scopes = {o.scopes: o.result for o in outcomes}
    assert set(by_scopes) == {("host", "org/a"), ("org/b",), ("org/c",), ("org/d",)}
    assert server.recorder.sessions == 4
    assert by_scopes[("org/b",)].failure_class == "auth_rejected"
    assert by_scopes[("host", "org/a")].passed and by_scopes[("org/c",)].passed
    assert outcomes[0].to_dict()["scopes"] == ["host", "org/a"]
    assert dedupe_key(targets[0]) == dedupe_key(targets[1])
    assert dedupe_key(targets[0]) != dedupe_key(targets[2])
    # Explicit fingerprints (keyed hashes from the store) are used as given.
    fp = [dataclasses.replace(t, fingerprint="fp-1") for t in targets[:3]]
    assert dedupe_key(fp[0]) == dedupe_key(fp[2])


def test_secret_unresolved_never_connects(smtp_server: Factory, pki: Pki) -> None:
    server = smtp_server(ServerSpec(tls="starttls", users={"alice": PASSWORD}))
    settings = server.settings(username="alice")
    targets = [
        ProbeTarget("org/x", settings, None, secret_error="env HOST_SMTP_PASSWORD is not set"),
        ProbeTarget("org/y", settings, None, secret_error="env HOST_SMTP_PASSWORD is not set"),
    ]
    results = asyncio.run(probe_targets(targets, ca_file=pki.ca_file))
    assert server.recorder.sessions == 0
    for result in results.values():
        assert (result.status, result.failure_class, result.stage) == (
            "failed",
            "secret_unresolved",
            "auth",
        )
        assert result.hint and "smtp.auth.password" in result.hint
    assert results["org/x"] is results["org/y"]


@pytest.mark.parametrize(
    ("concurrency", "per_host", "expected"),
    [(3, 16, 3), (16, 2, 2)],
    ids=["global-bound", "per-host-bound"],
)
def test_concurrency_is_bounded(
    concurrency: int, per_host: int, expected: int, smtp_server: Factory
) -> None:
    server = smtp_server(ServerSpec(delay_s=0.15))
    targets = [
        ProbeTarget(org_scope(f"o{i}"), server.settings(probe_to=f"p{i}@example.test"), None)
        for i in range(10)
    ]
    results = asyncio.run(probe_targets(targets, concurrency=concurrency, per_host=per_host))
    assert all(r.passed for r in results.values())
    assert server.recorder.sessions == 10
    assert server.recorder.max_active == expected


def test_per_host_bound_is_per_host(smtp_server: Factory) -> None:
    """Two hosts with per_host=1 still run two probes at once."""
    a = smtp_server(ServerSpec(delay_s=0.2))
    b = smtp_server(ServerSpec(delay_s=0.2))
    targets = [
        ProbeTarget("org/a1", a.settings(probe_to="1@example.test"), None),
        ProbeTarget("org/a2", a.settings(probe_to="2@example.test"), None),
        # Same loopback address, different name: the per-host key is the SMTP host name.
        ProbeTarget("org/b1", b.settings(host="localhost", probe_to="1@example.test"), None),
        ProbeTarget("org/b2", b.settings(host="localhost", probe_to="2@example.test"), None),
    ]
    loop_start = asyncio.run(_timed(probe_targets(targets, concurrency=8, per_host=1)))
    assert a.recorder.max_active == 1 and b.recorder.max_active == 1
    # Two rounds of ~0.2 s each, not four.
    assert loop_start < 0.7


async def _timed(coro: object) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    await coro  # type: ignore[misc]
    return loop.time() - start
