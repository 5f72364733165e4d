"""Prometheus metrics of the daemon (own registry, text exposition for ``/metrics``).

- ``mailctl_reconcile_duration_seconds{kind}`` histogram (excluding probes);
- ``mailctl_reconcile_total{result=success|failed|held}``;
- ``mailctl_probe_total{result=passed|failed, stage}``;
- ``mailctl_scope_ready{scope}`` 0/1 — above :data:`MAX_SCOPE_LABELS` scopes the per-scope
  series are replaced by ``mailctl_scopes_ready`` and ``mailctl_scopes_total`` counts, so a
  10,000-org platform does not flood the time-series database;
- ``mailctl_last_applied_revision_info{revision}`` 1; ``mailctl_suspended`` 0/1.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

MAX_SCOPE_LABELS = 1000
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RESULTS = ("success", "failed", "held")
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _StateCollector(Collector):
    """Gauges computed from the daemon's view of the store at scrape time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ready: dict[str, bool] = {}
        self.revision: str | None = None
        self.suspended = False

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            ready = dict(self.ready)
            revision, suspended = self.revision, self.suspended
        if len(ready) <= MAX_SCOPE_LABELS:
            g = GaugeMetricFamily(
                "mailctl_scope_ready", "1 when the scope is Ready, else 0.", labels=["scope"]
            )
            for scope in sorted(ready):
                g.add_metric([scope], 1.0 if ready[scope] else 0.0)
            yield g
        yield GaugeMetricFamily(
            "mailctl_scopes_ready", "Scopes that are Ready.", value=sum(ready.values())
        )
        yield GaugeMetricFamily("mailctl_scopes_total", "Scopes in the store.", value=len(ready))
        info = GaugeMetricFamily(
            "mailctl_last_applied_revision_info",
            "The revision last applied to the store (value 1).",
            labels=["revision"],
        )
        if revision:
            info.add_metric([revision], 1.0)
        yield info
        yield GaugeMetricFamily(
            "mailctl_suspended", "1 while reconciliation is suspended.", value=float(suspended)
        )


class DaemonMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
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
        for result in RESULTS:
            self.reconciles.labels(result=result)
        self.state = _StateCollector()
        self.registry.register(self.state)

    def observe_reconcile(self, kind: str, seconds: float, result: str) -> None:
        self.duration.labels(kind=kind).observe(seconds)
        self.reconciles.labels(result=result).inc()

    def observe_probes(self, outcomes: Iterable[Mapping[str, object]]) -> None:
        for o in outcomes:
            result = "passed" if o.get("status") == "passed" else "failed"
            self.probes.labels(result=result, stage=str(o.get("stage") or "unknown")).inc()

    def set_ready(self, ready: Mapping[str, bool], *, replace: bool = False) -> None:
        with self.state.lock:
            if replace:
                self.state.ready = dict(ready)
            else:
                self.state.ready.update(ready)

    def drop_scopes(self, scopes: Iterable[str]) -> None:
        with self.state.lock:
            for scope in scopes:
                self.state.ready.pop(scope, None)

    def set_revision(self, revision: str | None) -> None:
        with self.state.lock:
            self.state.revision = revision

    def set_suspended(self, suspended: bool) -> None:
        with self.state.lock:
            self.state.suspended = suspended

    def render(self) -> bytes:
        return generate_latest(self.registry)
