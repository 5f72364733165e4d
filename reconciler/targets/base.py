"""The target protocol and the values the sync engine and the targets exchange.

A target kind implements :class:`Target`: ``want`` says what the target should hold for
one applied scope (pure, no I/O), ``sync`` makes it so for a batch of work items and
reports one :class:`Outcome` per item. The engine (:mod:`.sync`) decides which scopes are
due by comparing each ``Want`` with the stored :class:`SyncState` of the last sync.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from reconciler.errors import SecretError
from reconciler.model import SecretRef
from reconciler.secrets import SecretCache
from reconciler.store import ScopeRecord

from .http import Counters, HttpClient, RetryPolicy
from .manifest import TargetManifest
from .state import SyncState

PLATFORM_DEFAULT = "PlatformDefault"


@dataclass(frozen=True, slots=True)
class Want:
    """What a target should hold for one scope.

    ``values`` are the non-secret values (compared with the last sync and, on drift checks,
    with the server); ``secret_fp`` fingerprints the secret the target must hold (written
    only when it differs from the last successful sync). ``skip`` (a reason) means nothing
    is written and the scope counts as Synced; ``problem`` (reason, message) means it
    cannot be synced at all (Synced False)."""

    partition: str | None
    values: dict[str, str] = field(default_factory=dict)
    secret_fp: str | None = None
    skip: str | None = None
    problem: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Work:
    """One scope a target must act on."""

    scope: str
    record: ScopeRecord
    want: Want
    previous: SyncState | None
    check_drift: bool = False  # compare with the server even if nothing changed here
    removed: bool = False  # the scope left the store (pruned): ``record`` is what it inherits

    @property
    def fresh(self) -> bool:
        """Nothing reliable is known about what the target holds (new, or moved)."""
        prev = self.previous
        return prev is None or prev.synced_at is None or prev.partition != self.want.partition

    @property
    def changed_keys(self) -> tuple[str, ...]:
        if self.fresh:
            return tuple(self.want.values)
        old = self.previous.values if self.previous is not None else {}
        return tuple(k for k, v in self.want.values.items() if old.get(k) != v)

    @property
    def write_secret(self) -> bool:
        if self.want.secret_fp is None:
            return False
        return self.fresh or self.previous is None or self.previous.secret_fp != self.want.secret_fp


@dataclass(frozen=True, slots=True)
class Outcome:
    scope: str
    ok: bool
    reason: str
    message: str
    written: tuple[str, ...] = ()  # keys written (a secret key by name only)
    drift: tuple[str, ...] = ()  # keys the server held differently (corrected)


@dataclass(slots=True)
class SyncContext:
    """What a sync needs besides its work: secrets, TLS, the retry policy, counters."""

    secrets: SecretCache
    ca_file: str | None = None
    revision: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    counters: Counters = field(default_factory=Counters)
    sleep: Callable[[float], None] = time.sleep
    stop: threading.Event = field(default_factory=threading.Event)
    # a shared store's daemon: False once it no longer leads (the sync stops taking scopes)
    leading: Callable[[], bool] = lambda: True

    def halted(self) -> bool:
        """Stop taking new scopes: mailctl is stopping, or no longer leads the store."""
        return self.stop.is_set() or not self.leading()


class Target(Protocol):
    """One target kind (see the module docstring)."""

    kind: ClassVar[str]
    name: str

    def want(
        self, record: ScopeRecord, target_ids: Mapping[str, str] | None, known: str | None
    ) -> Want:
        """``target_ids``: the org manifest's ``metadata.targetIds`` (``None`` when its
        manifest is not readable now); ``known``: the partition of the last sync."""
        ...

    def removed(self, inherited: ScopeRecord, previous: SyncState) -> Want:
        """What the target should hold for a scope that left the store (a pruned org):
        ``inherited`` is the host's record under the scope's name (what the org inherits
        now), ``previous`` the last sync (its partition). ``skip``: leave it as it is."""
        ...

    def sync(self, work: Sequence[Work], ctx: SyncContext) -> list[Outcome]: ...


TargetFactory = Callable[[TargetManifest], Target]

INTERRUPTED = ("Interrupted", "mailctl is stopping or not leading")


class Limits(Protocol):
    """A target's request limits (``spec.timeoutMs``, ``spec.concurrency``)."""

    timeout_s: float
    concurrency: int


def fan_out(
    work: Sequence[Work],
    ctx: SyncContext,
    key: SecretRef,
    limits: Limits,
    session: Callable[[str, HttpClient], Callable[[Work], Outcome]],
) -> list[Outcome]:
    """The I/O frame every target kind shares: resolve the target's own secret ``key``
    (unresolvable: every item fails ``SecretUnresolved``), open one kept-alive client, and
    run ``session(secret, client)`` on each item in at most ``limits.concurrency`` threads.
    An item reached once mailctl stops or no longer leads is ``Interrupted``, not sent."""
    if not work:
        return []
    try:
        secret = ctx.secrets.value(key, None)
    except SecretError as exc:
        return [Outcome(w.scope, False, "SecretUnresolved", exc.message) for w in work]
    client = HttpClient(ca_file=ctx.ca_file, timeout_s=limits.timeout_s, counters=ctx.counters)
    one = session(secret, client)

    def guarded(w: Work) -> Outcome:
        return Outcome(w.scope, False, *INTERRUPTED) if ctx.halted() else one(w)

    try:
        workers = min(limits.concurrency, len(work))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mailctl-target") as pool:
            return list(pool.map(guarded, work))
    finally:
        client.close()
