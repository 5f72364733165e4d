"""Target kinds: which module implements which manifest ``kind``.

A new target kind is one module implementing :class:`~reconciler.targets.base.Target`
plus one :func:`register` call here (and its schema in ``schemas/``). Modules are imported
only when a target of their kind exists, so commands without targets stay light.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from reconciler.model import ORCHESTRATOR_TARGET_KIND, WEBHOOK_TARGET_KIND

from .base import Target
from .manifest import TargetManifest

TARGET_BY_KIND: dict[str, str] = {}  # kind -> "module:class"


def register(kind: str, target: str) -> None:
    """Register ``module:Class`` (constructed with a :class:`TargetManifest`) for ``kind``."""
    TARGET_BY_KIND[kind] = target


def build(manifest: TargetManifest) -> Target:
    module, _, attr = TARGET_BY_KIND[manifest.kind].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    target: Target = cls(manifest)
    return target


def build_all(manifests: Iterable[TargetManifest]) -> list[Target]:
    return [build(m) for m in sorted(manifests, key=lambda m: m.name)]


register(ORCHESTRATOR_TARGET_KIND, "reconciler.targets.orchestrator:OrchestratorTarget")
register(WEBHOOK_TARGET_KIND, "reconciler.targets.webhook:WebhookTarget")
