"""Commit, then probe: the post-commit probe step shared by ``mailctl apply`` and the daemon.

Settings are committed first; probes run afterwards, never inside the settings
transaction. Each probe's result is stored in its own small transaction as soon as that
probe completes, and only on the scopes whose stored settings are still the ones probed:
a scope whose settings changed meanwhile, that was pruned, or that turned Stalled keeps
what it has (a stale result is never stored).

- :func:`probe_inputs` turns stored or desired scopes into :class:`ScopeProbe` values
  (the probe target with its resolved secret, a token of the settings probed, and the last
  stored result, from which the daemon computes when the scope is due);
- :func:`probe_and_store` probes one deduplicated group and stores its result: the unit
  the CLI gathers and the daemon's probe runner schedules as one task per group;
- :func:`probe_after_commit` is the CLI's whole step (every group concurrently, bounded).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from reconciler import conditions as cond
from reconciler.errors import SecretError
from reconciler.model import Effective
from reconciler.probe.result import ProbeOutcome, ProbeTarget
from reconciler.probe.scheduler import Limiter, group_targets, probe_group, probe_outcomes
from reconciler.progress import NULL, Progress
from reconciler.secrets import IMAP_PASSWORD_FIELD, SecretCache, secret_owner
from reconciler.store import StateStore

BULK_READ = 200  # above this many scopes, one read of every record beats one read each


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    ca_file: str | None = None
    concurrency: int = 32
    per_host: int = 4


class _Probed(Protocol):
    """What a probe needs of a scope: a ``DesiredScope`` or a stored ``ScopeRecord``."""

    @property
    def effective(self) -> dict[str, Any]: ...

    @property
    def fingerprint(self) -> str | None: ...

    @property
    def sources(self) -> dict[str, str]: ...


@dataclass(frozen=True, slots=True)
class ScopeProbe:
    """One scope to probe, with the token of its settings and its last stored result."""

    target: ProbeTarget
    token: str
    last_status: str | None = None
    last_at: str | None = None  # ISO-8601 UTC of the last stored result

    @property
    def scope(self) -> str:
        return self.target.scope


Write = Callable[[ProbeOutcome, dict[str, str]], Awaitable[tuple[str, ...]]]


def settings_token(effective: Mapping[str, Any], fingerprint: str | None) -> str:
    """Identifies the settings a probe tested: effective settings plus secret fingerprint."""
    text = json.dumps(effective, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{text}\0{fingerprint or ''}".encode()).hexdigest()[:32]


def probe_inputs(
    scopes: Mapping[str, _Probed], names: Sequence[str], secrets: SecretCache
) -> list[ScopeProbe]:
    """The named scopes as probe inputs (secrets resolved; a failure becomes the target's
    ``secret_error``, probed as ``secret_unresolved`` without connecting). Every scope
    of ``scopes`` is a known org for tenant scoping (``SecretCache.know``)."""
    secrets.know(scopes)
    out = []
    for name in names:
        item = scopes[name]
        settings = Effective.from_flat(item.effective)
        password = error = None
        auth = settings.smtp.auth
        if auth is not None:
            try:
                password = secrets.value(auth.password, secret_owner(name, item.sources))
            except SecretError as exc:
                error = exc.message
        imap_password = imap_error = None
        imap = settings.confirm.imap if settings.confirm else None
        if imap is not None:
            try:
                owner = secret_owner(name, item.sources, IMAP_PASSWORD_FIELD)
                imap_password = secrets.value(imap.password, owner)
            except SecretError as exc:
                imap_error = exc.message
        last = getattr(item, "probe", None) or {}
        target = ProbeTarget(
            name, settings, password, error, item.fingerprint, imap_password, imap_error
        )
        out.append(
            ScopeProbe(
                target,
                settings_token(item.effective, item.fingerprint),
                last.get("status"),
                last.get("at"),
            )
        )
    return out


def record_outcome(
    store: StateStore, outcome: ProbeOutcome, tokens: Mapping[str, str]
) -> tuple[str, ...]:
    """StateStore one probe result (its own transaction) on the scopes of ``tokens`` whose
    stored settings still match their token and that are not Stalled; returns those."""
    result = outcome.result.to_dict()
    conditions = cond.from_probe(result)
    with store.transaction() as tx:
        if len(tokens) > BULK_READ:
            current = tx.scopes()
        else:
            current = {s: r for s in tokens if (r := tx.get(s)) is not None}
        fresh = tuple(
            scope
            for scope, token in tokens.items()
            if (rec := current.get(scope)) is not None
            and settings_token(rec.effective, rec.fingerprint) == token
            and not cond.is_stalled(rec.conditions)
        )
        if fresh:
            tx.set_probe_many(fresh, result)
            tx.set_conditions_many((scope, conditions) for scope in fresh)
    return fresh


async def probe_and_store(
    group: Sequence[ProbeTarget],
    tokens: Mapping[str, str],
    *,
    limiter: Limiter,
    ca_file: str | None,
    write: Write,
) -> tuple[ProbeOutcome, tuple[str, ...]]:
    """Probe one group, then store the result on the scopes ``tokens`` holds *when the probe
    completes* (a live mapping: the daemon removes scopes whose settings changed meanwhile).
    Returns the outcome and the scopes it was stored on."""
    outcome = await probe_group(group, limiter, ca_file)
    stored = await write(outcome, dict(tokens))
    return outcome, stored


def probe_after_commit(
    store: StateStore,
    inputs: Sequence[ScopeProbe],
    opts: ProbeOptions,
    *,
    progress: Progress = NULL,
) -> list[dict[str, Any]]:
    """``apply``'s step after the commit: probe every distinct configuration concurrently
    (bounded overall and per host), each result stored as its probe completes.
    ``progress`` hears ``probing N/total`` and each outcome once it is stored."""
    if not inputs:
        return []
    tokens = {i.scope: i.token for i in inputs}
    groups = group_targets([i.target for i in inputs])
    progress.phase("probing", len(groups))

    async def write(outcome: ProbeOutcome, live: dict[str, str]) -> tuple[str, ...]:
        stored = await asyncio.to_thread(record_outcome, store, outcome, live)
        progress.step()
        progress.probed(outcome.to_dict())
        return stored

    async def run() -> list[tuple[ProbeOutcome, tuple[str, ...]]]:
        limiter = Limiter(opts.concurrency, opts.per_host)
        return list(
            await asyncio.gather(
                *(
                    probe_and_store(
                        g,
                        {t.scope: tokens[t.scope] for t in g},
                        limiter=limiter,
                        ca_file=opts.ca_file,
                        write=write,
                    )
                    for g in groups
                )
            )
        )

    return [outcome.to_dict() for outcome, _ in asyncio.run(run())]


def run_probes(
    scopes: Mapping[str, _Probed],
    names: Sequence[str],
    secrets: SecretCache,
    opts: ProbeOptions,
    *,
    progress: Progress = NULL,
) -> list[dict[str, Any]]:
    """Probe the named scopes (deduplicated) without storing anything (``gate``);
    ``progress`` hears ``probing N/total`` and each outcome as its probe completes."""
    targets = [i.target for i in probe_inputs(scopes, names, secrets)]
    if not targets:
        return []
    progress.phase("probing", len(group_targets(targets)))

    def completed(outcome: ProbeOutcome) -> None:
        progress.step()
        progress.probed(outcome.to_dict())

    outcomes = asyncio.run(
        probe_outcomes(
            targets,
            ca_file=opts.ca_file,
            concurrency=opts.concurrency,
            per_host=opts.per_host,
            on_outcome=completed,
        )
    )
    return [o.to_dict() for o in outcomes]
