"""An in-memory index of every scope's status for the read API (``GET /v1/scopes``).

The store answers "give me scope X" fast, but the fleet views need counts, a name search,
filters and sorts over every scope; at 100,000 scopes that must not decode 100,000 full
records per request. The index keeps one small row per scope (conditions, latest probe
verdict, revision), built from one store read in a worker thread and rebuilt when the
store's ``data_version`` moves — for up to ``QUICK_ROWS`` scopes at once, beyond that at
most once per ``max(MIN_REFRESH_S, 3 × last build)``,
so that a store under constant probe writes costs a bounded share of one core. Requests
in between are served from the last index (stale-while-revalidate; every answer carries
``dataVersion`` and ``asOf``). The index is immutable: a query never sees half a rebuild.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.model import HOST_SCOPE, host_first

MIN_REFRESH_S = 1.0
# An index of at most this many scopes is rebuilt and waited for whenever the store moved
# (~0.1 s on a quiet machine): small fleets always see current data. By size, not by the
# measured build time, which a loaded machine would inflate.
QUICK_ROWS = 2000
# Probe latency buckets (upper bounds, ms) of the overview's distribution chart.
LATENCY_BUCKETS_MS: tuple[float, ...] = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
CONDITIONS = ("ready", "not_ready", "stalled", "probe_failed", "not_synced", "unprobed", "held")
SORTS = ("name", "condition", "latency", "probed", "applied", "class")


@dataclass(frozen=True, slots=True)
class Row:
    """What the list views show of one scope."""

    scope: str
    mode: str | None
    applied: bool  # False: held before its first apply
    source: str | None
    ready: bool
    stalled: bool
    reason: str
    message: str
    synced: bool | None  # None: no Synced condition (no targets)
    probe_status: str | None
    probe_class: str | None
    probe_stage: str | None
    probe_ms: float | None  # sum of the per-stage latencies
    probe_at: str | None
    probe_id: str | None
    revision: str | None  # last applied
    applied_at: str | None
    attempted_at: str | None

    def to_dict(self) -> dict[str, Any]:
        probe = (
            {
                "status": self.probe_status,
                "class": self.probe_class,
                "stage": self.probe_stage,
                "totalMs": self.probe_ms,
                "at": self.probe_at,
            }
            if self.probe_status is not None
            else None
        )
        return {
            "scope": self.scope,
            "kind": "host" if self.scope == HOST_SCOPE else "org",
            "mode": self.mode,
            "applied": self.applied,
            "source": self.source,
            "ready": self.ready,
            "stalled": self.stalled,
            "reason": self.reason,
            "message": self.message,
            "synced": self.synced,
            "probe": probe,
            "lastAppliedRevision": self.revision,
            "lastAppliedAt": self.applied_at,
        }

    def matches(self, condition: str | None) -> bool:
        if condition is None:
            return True
        if condition == "ready":
            return self.ready
        if condition == "not_ready":
            return not self.ready
        if condition == "stalled":
            return self.stalled
        if condition == "probe_failed":
            return self.probe_status == "failed"
        if condition == "not_synced":
            return self.synced is False
        if condition == "unprobed":
            return self.probe_status is None
        if condition == "held":
            return not self.applied
        raise ValueError(f"unknown condition {condition!r}")


def row_of(
    scope: str,
    *,
    mode: str | None,
    applied: bool,
    source: str | None,
    conditions: dict[str, dict[str, str]],
    probe: dict[str, Any] | None,
    revision: str | None,
    applied_at: str | None,
    attempted_at: str | None,
    intern: Callable[[str], str],
) -> Row:
    ready = conditions.get("Ready", {})
    synced = [c for name, c in conditions.items() if name.split("/", 1)[0] == "Synced"]
    latencies = (probe or {}).get("latency_ms") or {}
    return Row(
        scope=scope,
        mode=mode,
        applied=applied,
        source=source,
        ready=ready.get("status") == "True",
        stalled=conditions.get("Stalled", {}).get("status") == "True",
        reason=intern(ready.get("reason", "")),
        message=ready.get("message", ""),
        synced=all(c.get("status") == "True" for c in synced) if synced else None,
        probe_status=intern(str(probe["status"])) if probe else None,
        probe_class=intern(str(probe["class"])) if probe and probe.get("class") else None,
        probe_stage=intern(str(probe["stage"])) if probe and probe.get("stage") else None,
        probe_ms=round(sum(float(v) for v in latencies.values()), 1) if latencies else None,
        probe_at=probe.get("at") if probe else None,
        probe_id=probe.get("probe_id") if probe else None,
        revision=revision,
        applied_at=applied_at,
        attempted_at=attempted_at,
    )


def _condition_rank(row: Row) -> int:
    """Worst first: stalled, probe failed, not synced, other not ready, ready."""
    if row.stalled:
        return 0
    if row.probe_status == "failed":
        return 1
    if row.synced is False:
        return 2
    return 4 if row.ready else 3


_SORT_KEYS: dict[str, Callable[[Row], Any]] = {
    "name": lambda r: host_first(r.scope),
    "condition": lambda r: (_condition_rank(r), *host_first(r.scope)),
    "latency": lambda r: (r.probe_ms is None, r.probe_ms or 0.0, r.scope),
    "probed": lambda r: (r.probe_at or "", r.scope),
    "applied": lambda r: (r.applied_at or "", r.scope),
    "class": lambda r: (r.probe_class is None, r.probe_class or "", r.scope),
}


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Row]
    total: int
    offset: int
    limit: int


@dataclass
class ScopeIndex:
    rows: list[Row]  # host first, then orgs by name
    data_version: int
    revision: str | None
    suspension: dict[str, Any] | None
    invalid_files: list[dict[str, Any]]
    built_at: float = field(default_factory=time.time)
    build_s: float = 0.0
    _orders: dict[str, list[int]] = field(default_factory=dict, repr=False)
    _summary: dict[str, Any] | None = field(default=None, repr=False)

    def order(self, sort: str) -> list[int]:
        """Row positions in ``sort`` order (computed once per index)."""
        found = self._orders.get(sort)
        if found is None:
            if sort == "name":
                found = list(range(len(self.rows)))
            else:
                key = _SORT_KEYS[sort]
                found = sorted(range(len(self.rows)), key=lambda i: key(self.rows[i]))
            self._orders[sort] = found
        return found

    def query(
        self,
        *,
        q: str = "",
        condition: str | None = None,
        failure_class: str | None = None,
        sort: str = "name",
        descending: bool = False,
        offset: int = 0,
        limit: int = 50,
    ) -> Page:
        needle = q.strip().lower()
        rows = self.rows
        order = self.order(sort)
        if descending:
            order = order[::-1]
        if not needle and condition is None and failure_class is None:
            hits: Sequence[int] = order
        else:
            want_class = failure_class if failure_class not in (None, "") else None
            hits = [
                i
                for i in order
                if (not needle or needle in rows[i].scope.lower())
                and (want_class is None or rows[i].probe_class == want_class)
                and rows[i].matches(condition)
            ]
        return Page([rows[i] for i in hits[offset : offset + limit]], len(hits), offset, limit)

    def find(self, scope: str) -> Row | None:
        lo = bisect.bisect_left(self.rows, host_first(scope), key=_SORT_KEYS["name"])
        if lo < len(self.rows) and self.rows[lo].scope == scope:
            return self.rows[lo]
        return None

    def summary(self) -> dict[str, Any]:
        """Counts by condition and failure class, and the probe latency distribution
        (one sample per distinct probe: scopes sharing a probe share its latency); computed
        once per index."""
        if self._summary is None:
            self._summary = self._summarise()
        return self._summary

    def _summarise(self) -> dict[str, Any]:
        counts: Counter[str] = Counter()
        classes: Counter[str] = Counter()
        latencies: dict[str, float] = {}
        last_applied: tuple[str, str | None] = ("", None)
        for row in self.rows:
            counts["ready" if row.ready else "not_ready"] += 1
            counts["stalled"] += row.stalled
            counts["probe_failed"] += row.probe_status == "failed"
            counts["not_synced"] += row.synced is False
            counts["unprobed"] += row.probe_status is None
            counts["held"] += not row.applied
            if row.probe_class is not None and row.probe_status == "failed":
                classes[row.probe_class] += 1
            if row.probe_ms is not None and row.probe_id:
                latencies[row.probe_id] = row.probe_ms
            if row.applied_at and row.applied_at > last_applied[0]:
                last_applied = (row.applied_at, row.revision)
        total = len(self.rows)
        return {
            "total": total,
            "counts": {
                "ready": counts["ready"],
                "notReady": counts["not_ready"],
                "stalled": counts["stalled"],
                "probeFailed": counts["probe_failed"],
                "notSynced": counts["not_synced"],
                "unprobed": counts["unprobed"],
                "held": counts["held"],
                "suspended": total if self.suspension else 0,
            },
            "classes": dict(sorted(classes.items())),
            "latency": latency_distribution(latencies.values()),
            "lastApplied": {"at": last_applied[0] or None, "revision": last_applied[1]},
        }


def latency_distribution(values: Iterable[float]) -> dict[str, Any]:
    samples = sorted(values)
    buckets = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    for v in samples:
        buckets[bisect.bisect_left(LATENCY_BUCKETS_MS, v)] += 1

    def pct(p: float) -> float | None:
        if not samples:
            return None
        return samples[min(len(samples) - 1, int(p * len(samples)))]

    return {
        "probes": len(samples),
        "bucketsMs": list(LATENCY_BUCKETS_MS),
        "counts": buckets,  # counts[i]: <= bucketsMs[i]; the last: above the last bound
        "p50": pct(0.5),
        "p90": pct(0.9),
        "p99": pct(0.99),
        "max": samples[-1] if samples else None,
    }


class IndexCache:
    """The current :class:`ScopeIndex`, rebuilt in a thread when the store moved on."""

    def __init__(
        self, build: Callable[[], ScopeIndex], version: Callable[[], int], *, min_s: float = 0.0
    ) -> None:
        self._build = build
        self._version = version
        self._min_s = max(min_s, MIN_REFRESH_S) if min_s else MIN_REFRESH_S
        self.index: ScopeIndex | None = None
        self._task: asyncio.Task[ScopeIndex] | None = None
        self.builds = 0

    async def _rebuild(self) -> ScopeIndex:
        t0 = time.perf_counter()
        index = await asyncio.to_thread(self._build)
        index.build_s = time.perf_counter() - t0
        self.index = index
        self.builds += 1
        return index

    def _start(self) -> asyncio.Task[ScopeIndex]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._rebuild(), name="scope-index")
        return self._task

    def prefetch(self) -> None:
        """Build the first index in the background (no-op once there is one)."""
        if self.index is None:
            self._start()

    async def get(self) -> ScopeIndex:
        """The index of the store as it is now when that is quick to build (small fleets, and
        the first call); otherwise the last one, rebuilding in the background when due."""
        index = self.index
        if index is None:
            return await asyncio.shield(self._start())
        version = await asyncio.to_thread(self._version)
        if version == index.data_version:
            return index
        if len(index.rows) <= QUICK_ROWS:
            # A build already running may have read the store before this change: wait
            # for one that saw at least ``version``.
            for _ in range(3):
                index = await asyncio.shield(self._start())
                if index.data_version >= version:
                    break
            return index
        if time.time() - index.built_at >= max(self._min_s, 3 * index.build_s):
            self._start()
        return index

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
