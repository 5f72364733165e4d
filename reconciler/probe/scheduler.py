"""Deduplicated, bounded-concurrency probing of many scopes.

Scopes whose ``dedupe_key`` is equal (endpoint, TLS mode, timeout, domain, username,
credential fingerprint, sender, recipient) share one probe: 10,000 orgs inheriting the
host's settings cost one SMTP connection. Concurrency is bounded globally
(``concurrency``) and per SMTP host name (``per_host``) with ``asyncio.Semaphore``s; a
probe takes its host slot before a global slot, so probes queued behind one busy host
never hold global slots.

Output: ``probe_outcomes()`` returns one ``ProbeOutcome(result, scopes)`` per executed
probe (the shape of ``mailctl probe --format json``: ``{"scopes": [...], **result}``);
``probe_targets()`` returns ``{scope: result}`` where scopes of one group share the very
same ``ProbeResult`` object. A shared probe's subject names its first scope (``host``
first, then sorted).

``probe_group()`` runs one group (one probe) under the limiter: the unit both the CLI's
``apply`` and the daemon's probe runner schedule (the daemon one task per group, so a
group can be cancelled when its scopes' settings change). There are no retries here:
a 4xx is a ``temporary`` result; re-probing is the daemon's schedule.

Targets with ``secret_error`` set never connect; they get a ``secret_unresolved`` result.
If a target has a password but no ``fingerprint``, one is computed here with a
per-process random HMAC key, so equal passwords still dedupe and unequal ones never do.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from reconciler.model import HOST_SCOPE
from reconciler.probe.confirm import confirm_result
from reconciler.probe.engine import internal_error_result, probe, secret_unresolved_result
from reconciler.probe.result import ProbeOutcome, ProbeResult, ProbeTarget

_PROCESS_KEY = secrets.token_bytes(32)


def _fingerprint(target: ProbeTarget) -> str | None:
    if target.secret_error is not None:
        return f"unresolved:{target.secret_error}"
    if target.fingerprint is not None:
        return target.fingerprint
    if target.password is None:
        return None
    digest = hmac.new(_PROCESS_KEY, target.password.encode("utf-8"), hashlib.sha256)
    return "local:" + digest.hexdigest()


def dedupe_key(target: ProbeTarget) -> tuple[Any, ...]:
    """What makes two probes the same: endpoint, tls, timeout, domain, username, OAuth2
    client (token URL, client id, scope), credential fingerprint, sender (address and
    display name), recipient, delivery confirmation (mailbox, IMAP account and password
    reference, window) and EHLO name."""
    smtp = target.settings.smtp
    sender = target.settings.sender
    return (
        smtp.host.lower(),
        smtp.port,
        smtp.tls,
        smtp.timeout_ms,
        smtp.domain,
        smtp.auth.username if smtp.auth else None,
        smtp.auth.oauth2 if smtp.auth else None,
        _fingerprint(target),
        sender.address,
        sender.display_name,
        target.settings.probe_to,
        target.settings.confirm,
        target.confirm_error,
        target.settings.ehlo_name,
    )


def _scope_order(scope: str) -> tuple[int, str]:
    return (0 if scope == HOST_SCOPE else 1, scope)


def group_targets(targets: Sequence[ProbeTarget]) -> list[list[ProbeTarget]]:
    """Targets grouped by ``dedupe_key``, each group's scopes in display order."""
    groups: dict[tuple[Any, ...], list[ProbeTarget]] = {}
    for target in targets:
        groups.setdefault(dedupe_key(target), []).append(target)
    return [sorted(group, key=lambda t: _scope_order(t.scope)) for group in groups.values()]


class Limiter:
    """Global and per-host semaphores (reusable across calls, e.g. by the daemon)."""

    def __init__(self, concurrency: int = 32, per_host: int = 4) -> None:
        if concurrency < 1 or per_host < 1:
            raise ValueError("concurrency and per_host must be >= 1")
        self._global = asyncio.Semaphore(concurrency)
        self._per_host_limit = per_host
        self._hosts: dict[str, asyncio.Semaphore] = {}

    def host(self, name: str) -> asyncio.Semaphore:
        key = name.lower()
        sem = self._hosts.get(key)
        if sem is None:
            sem = self._hosts[key] = asyncio.Semaphore(self._per_host_limit)
        return sem

    @property
    def global_slots(self) -> asyncio.Semaphore:
        return self._global


async def probe_group(
    group: Sequence[ProbeTarget], limiter: Limiter, ca_file: str | None = None
) -> ProbeOutcome:
    """One probe for a group of equivalent targets (the first one's scope names it)."""
    first = group[0]
    scopes = tuple(t.scope for t in group)
    if first.secret_error is not None:
        return ProbeOutcome(secret_unresolved_result(first.settings, first.secret_error), scopes)
    async with limiter.host(first.settings.smtp.host), limiter.global_slots:
        try:
            result = await probe(
                first.settings, first.password, scope_label=first.scope, ca_file=ca_file
            )
        except Exception as exc:  # probe() classifies everything; this is a last resort
            result = internal_error_result(first.settings, exc)
    # Delivery confirmation waits for the mailbox, not for the SMTP server: outside the
    # SMTP slots, so a slow mailbox never holds up other probes.
    result = await confirm_result(
        result,
        first.settings.confirm,
        password=first.confirm_password,
        password_error=first.confirm_error,
        ca_file=ca_file,
    )
    return ProbeOutcome(result, scopes)


async def probe_outcomes(
    targets: Sequence[ProbeTarget],
    *,
    ca_file: str | None = None,
    concurrency: int = 32,
    per_host: int = 4,
    limiter: Limiter | None = None,
    on_outcome: Callable[[ProbeOutcome], None] | None = None,
) -> list[ProbeOutcome]:
    """Run one probe per distinct configuration; outcomes in first-seen group order.
    ``on_outcome`` is called with each outcome as soon as its probe completes."""
    limiter = limiter or Limiter(concurrency, per_host)
    groups = group_targets(targets)

    async def run(group: list[ProbeTarget]) -> ProbeOutcome:
        outcome = await probe_group(group, limiter, ca_file)
        if on_outcome is not None:
            on_outcome(outcome)
        return outcome

    return list(await asyncio.gather(*(run(g) for g in groups)))


async def probe_targets(
    targets: Sequence[ProbeTarget],
    *,
    ca_file: str | None = None,
    concurrency: int = 32,
    per_host: int = 4,
) -> dict[str, ProbeResult]:
    """``{scope: result}`` for every target; deduplicated scopes share one result."""
    outcomes = await probe_outcomes(
        targets, ca_file=ca_file, concurrency=concurrency, per_host=per_host
    )
    return {scope: outcome.result for outcome in outcomes for scope in outcome.scopes}
