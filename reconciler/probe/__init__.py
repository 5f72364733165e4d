"""SMTP test probes (DESIGN §4): one staged probe, classification, deduplicated scheduling.

Public API::

    from reconciler.probe import probe, probe_targets, probe_outcomes, dedupe_key
    from reconciler.probe import ProbeResult, ProbeTarget, ProbeOutcome, STAGES
"""

from __future__ import annotations

from reconciler.probe.classify import FAILURE_CLASSES
from reconciler.probe.engine import build_message, probe, secret_unresolved_result, tls_context
from reconciler.probe.result import (
    STAGES,
    ProbeOutcome,
    ProbeResult,
    ProbeTarget,
    endpoint_label,
    new_probe_id,
)
from reconciler.probe.scheduler import (
    Limiter,
    dedupe_key,
    group_targets,
    probe_group,
    probe_outcomes,
    probe_targets,
)

__all__ = [
    "FAILURE_CLASSES",
    "STAGES",
    "Limiter",
    "ProbeOutcome",
    "ProbeResult",
    "ProbeTarget",
    "build_message",
    "dedupe_key",
    "endpoint_label",
    "group_targets",
    "new_probe_id",
    "probe",
    "probe_group",
    "probe_outcomes",
    "probe_targets",
    "secret_unresolved_result",
    "tls_context",
]
