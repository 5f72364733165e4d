"""Prometheus metrics of the daemon (own registry; ``/metrics`` in the Prometheus text format,
or OpenMetrics when the scrape's ``Accept`` asks for ``application/openmetrics-text``).

Counters and histograms (since the daemon started):

- ``mailctl_reconcile_duration_seconds{kind}`` histogram (excluding probes);
- ``mailctl_reconcile_total{result=success|failed|held}``;
- ``mailctl_probe_total{result=passed|failed, stage}``;
- ``mailctl_probe_delivery_total{delivery=delivered|delivered_junk|not_delivered}`` and
  ``mailctl_probe_delivery_seconds`` (histogram, confirmed deliveries) for probes with
  ``probe.confirm``.

Gauges computed at scrape time from the daemon's view of the store (:class:`ScopeStates`):

- ``mailctl_scopes`` scopes known; ``mailctl_scopes_ready`` those Ready;
- ``mailctl_scopes_by_condition{condition, status}`` scopes per condition and status
  (``Ready``/``Stalled``/``Reconciling``/... and ``True``/``False``/``Unknown``);
- ``mailctl_scope_ready{scope}`` 0/1 per scope. Cardinality is bounded without hiding a
  problem: up to :data:`MAX_SCOPE_SERIES` scopes every scope has a series; above it only the
  scopes that are **not** Ready do (all of them), and
  ``mailctl_scope_series_truncated`` counts the Ready scopes left out;
- ``mailctl_last_applied_revision_info{revision}`` 1; ``mailctl_suspended`` 0/1;
- ``mailctl_leader`` 1 while this daemon holds the store's leader lease (always 1 with a
  SQLite store, whose single daemon holds the store's lock), 0 on a standby;
- ``mailctl_target_sync_scopes{target, status}`` scopes per target by sync status;
  counters ``mailctl_target_sync_total{target, result}``,
  ``mailctl_target_sync_requests_total{method, result}`` and the histogram
  ``mailctl_target_sync_duration_seconds`` (DESIGN §12);
- ``mailctl_build_info{version, python}`` 1, and the standard ``process_*`` and
  ``python_*`` collectors.
"""

from __future__ import annotations

import platform
import threading
from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from reconciler import __version__

MAX_SCOPE_SERIES = 1000
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RESULTS = ("success", "failed", "held")
DELIVERIES = ("delivered", "delivered_junk", "not_delivered")
DELIVERY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
READY = "Ready"
Conditions = Mapping[str, str]  # condition type -> status ("True" | "False" | "Unknown")


def condition_statuses(conditions: Mapping[str, Any]) -> dict[str, str]:
    """``{type: status}`` from the store's/status's ``{type: {status, reason, ...}}``."""
    out: dict[str, str] = {}
    for name, value in conditions.items():
        status = value.get("status") if isinstance(value, Mapping) else value
        out[str(name)] = str(status) if status in ("True", "False") else "Unknown"
    return out


def scope_families(
    scopes: Mapping[str, Conditions], cap: int = MAX_SCOPE_SERIES
) -> Iterator[Metric]:
    """The per-scope and aggregate gauges for ``{scope: {condition: status}}``.

    Pure: the daemon calls it at scrape time; tests call it on status data directly."""
    ready = {s: c.get(READY) == "True" for s, c in scopes.items()}
    per_scope = GaugeMetricFamily(
        "mailctl_scope_ready",
        f"1 when the scope is Ready, else 0. Above {cap} scopes only the scopes that are not "
        "Ready have a series (see mailctl_scope_series_truncated).",
        labels=["scope"],
    )
    shown = list(ready) if len(ready) <= cap else [s for s, ok in ready.items() if not ok]
    for scope in sorted(shown):
        per_scope.add_metric([scope], 1.0 if ready[scope] else 0.0)
    truncated = len(ready) - len(shown)
    yield per_scope
    yield GaugeMetricFamily(
        "mailctl_scope_series_truncated",
        "Ready scopes without a mailctl_scope_ready series (cardinality cap); "
        "scopes that are not Ready are never left out.",
        value=truncated,
    )
    yield GaugeMetricFamily("mailctl_scopes", "Scopes known to the daemon.", value=len(ready))
    yield GaugeMetricFamily(
        "mailctl_scopes_ready", "Scopes that are Ready.", value=sum(ready.values())
    )
    tally = Tally((name, status) for conds in scopes.values() for name, status in conds.items())
    for conds in scopes.values():
        if READY not in conds:
            tally[(READY, "Unknown")] += 1
    by_condition = GaugeMetricFamily(
        "mailctl_scopes_by_condition",
        "Scopes per condition type and status.",
        labels=["condition", "status"],
    )
    for (name, status), count in sorted(tally.items()):
        by_condition.add_metric([name, status], float(count))
    yield by_condition


class ScopeStates(Collector):
    """Gauges computed from the daemon's view of the store at scrape time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.scopes: dict[str, dict[str, str]] = {}
        self.revision: str | None = None
        self.suspended = False
        self.leader = True
        self.targets: dict[str, dict[str, int]] = {}  # target -> status -> scopes

    def collect(self) -> Iterator[Metric]:
        with self.lock:  # values are replaced, never changed in place: a shallow copy will do
            scopes = dict(self.scopes)
            revision, suspended, leader = self.revision, self.suspended, self.leader
            targets = dict(self.targets)
        yield from scope_families(scopes)
        per_target = GaugeMetricFamily(
            "mailctl_target_sync_scopes",
            "Scopes per target by sync status (synced, skipped = platform default, failed).",
            labels=["target", "status"],
        )
        for target, counts in sorted(targets.items()):
            for status in ("synced", "skipped", "failed"):
                per_target.add_metric([target, status], float(counts.get(status, 0)))
        yield per_target
        info = InfoMetricFamily(
            "mailctl_last_applied_revision", "The revision last applied to the store."
        )
        if revision:
            info.add_metric([], {"revision": revision})
        yield info
        yield GaugeMetricFamily(
            "mailctl_suspended", "1 while reconciliation is suspended.", value=float(suspended)
        )
        yield GaugeMetricFamily(
            "mailctl_leader",
            "1 while this daemon leads (holds the store's lease and writes), 0 on a standby.",
            value=float(leader),
        )


class DaemonMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        Info("mailctl_build", "The running mailctl (value 1).", registry=self.registry).info(
            {"version": __version__, "python": platform.python_version()}
        )
        self.duration = Histogram(
            "mailctl_reconcile_duration_seconds",
            "Reconcile duration (read, validate, plan, write; probes excluded).",
            ["kind"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.reconciles = Counter(
            "mailctl_reconcile", "Reconciles by result.", ["result"], registry=self.registry
        )
        self.probes = Counter(
            "mailctl_probe",
            "Probes by result and stage.",
            ["result", "stage"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "mailctl_probe_delivery",
            "Confirmed probes by delivery result (probe.confirm).",
            ["delivery"],
            registry=self.registry,
        )
        self.delivery_seconds = Histogram(
            "mailctl_probe_delivery_seconds",
            "Time from the end of the SMTP session until the probe message was seen.",
            buckets=DELIVERY_BUCKETS,
            registry=self.registry,
        )
        self.target_syncs = Counter(
            "mailctl_target_sync",
            "Scopes a target sync wrote or checked, by target and result (synced|failed).",
            ["target", "result"],
            registry=self.registry,
        )
        self.target_requests = Counter(
            "mailctl_target_sync_requests",
            "HTTP requests to targets, by method and result (2xx, 4xx, 5xx, timeout, error).",
            ["method", "result"],
            registry=self.registry,
        )
        self.target_duration = Histogram(
            "mailctl_target_sync_duration_seconds",
            "Duration of a target sync run (all targets).",
            buckets=BUCKETS,
            registry=self.registry,
        )
        for result in RESULTS:
            self.reconciles.labels(result=result)
        for delivery in DELIVERIES:
            self.deliveries.labels(delivery=delivery)
        self.state = ScopeStates()
        self.registry.register(self.state)

    def observe_reconcile(self, kind: str, seconds: float, result: str) -> None:
        self.duration.labels(kind=kind).observe(seconds)
        self.reconciles.labels(result=result).inc()

    def observe_probes(self, outcomes: Iterable[Mapping[str, object]]) -> None:
        for o in outcomes:
            result = "passed" if o.get("status") == "passed" else "failed"
            self.probes.labels(result=result, stage=str(o.get("stage") or "unknown")).inc()
            delivery = o.get("delivery")
            if delivery in DELIVERIES:
                self.deliveries.labels(delivery=str(delivery)).inc()
            ms = o.get("deliveryMs")
            if isinstance(ms, int | float):
                self.delivery_seconds.observe(ms / 1000.0)

    def observe_target_sync(self, report: Any, scopes: Mapping[str, Mapping[str, int]]) -> None:
        """A sync run (``targets.sync.SyncReport``) and the per-target scope counts after it
        (``{target: {synced, skipped, failed}}``)."""
        self.target_duration.observe(report.duration_s)
        for t in report.targets:
            if t.written or t.drift:
                self.target_syncs.labels(target=t.target, result="synced").inc(len(t.written))
            if t.failed:
                self.target_syncs.labels(target=t.target, result="failed").inc(len(t.failed))
        for key, n in report.requests.items():
            method, _, result = key.partition(" ")
            self.target_requests.labels(method=method, result=result).inc(n)
        with self.state.lock:
            self.state.targets = {t: dict(c) for t, c in scopes.items()}

    def set_conditions(
        self, conditions: Mapping[str, Mapping[str, Any]], *, replace: bool = False
    ) -> None:
        """``{scope: conditions}`` as the store or status holds them (held scopes too)."""
        states = {s: condition_statuses(c) for s, c in conditions.items()}
        with self.state.lock:
            if replace:
                self.state.scopes = states
            else:
                self.state.scopes.update(states)

    def set_ready(self, ready: Mapping[str, bool], *, replace: bool = False) -> None:
        """Only the Ready condition of each scope (e.g. right after its probe)."""
        with self.state.lock:
            if replace:
                self.state.scopes = {}
            for scope, ok in ready.items():
                conds = dict(self.state.scopes.get(scope, {}))
                conds[READY] = "True" if ok else "False"
                self.state.scopes[scope] = conds

    def drop_scopes(self, scopes: Iterable[str]) -> None:
        with self.state.lock:
            for scope in scopes:
                self.state.scopes.pop(scope, None)

    def set_revision(self, revision: str | None) -> None:
        with self.state.lock:
            self.state.revision = revision

    def set_suspended(self, suspended: bool) -> None:
        with self.state.lock:
            self.state.suspended = suspended

    def set_leader(self, leader: bool) -> None:
        with self.state.lock:
            self.state.leader = leader

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition and its content type: OpenMetrics when ``accept`` (the request's
        ``Accept`` header) asks for ``application/openmetrics-text``, else text 0.0.4."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type
