"""What the daemon tells about probes and target syncs as they finish: events and
metrics (and the scopes' conditions in the metrics). Called on the event loop for
probes and on the target runner's thread for syncs; it holds no state of its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler import conditions as cond
from reconciler.events import log_probes, log_targets

from .metrics import DaemonMetrics

if TYPE_CHECKING:
    from reconciler.targets.sync import SyncReport


@dataclass(frozen=True, slots=True)
class Observer:
    log: Any
    metrics: DaemonMetrics

    def probe_result(self, outcome: dict[str, Any], *, stored: bool = True) -> None:
        """One probe completed (and its result was stored on ``outcome["scopes"]``)."""
        log_probes(self.log, [outcome])
        self.metrics.observe_probes([outcome])
        if stored:
            conditions = cond.from_probe(outcome)
            self.metrics.set_conditions({s: conditions for s in outcome.get("scopes", ())})

    def targets_synced(
        self,
        report: SyncReport,
        conditions: dict[str, Any],
        summary: dict[str, dict[str, int]],
    ) -> None:
        """A target sync finished: events, metrics, and the conditions (Synced/<target>,
        Ready) of the scopes it touched."""
        self.metrics.observe_target_sync(report, summary)
        self.metrics.set_conditions(conditions)
        log_targets(self.log, report)  # after the metrics: a reader of the event sees them

    def targets_failed(self, error: str) -> None:
        self.log.error("target.failed", error=error, message=f"Target sync failed: {error}")
