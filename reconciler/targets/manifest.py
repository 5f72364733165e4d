"""A validated target manifest (``OrchestratorTarget``, ``WebhookTarget``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.model import SecretRef


@dataclass(frozen=True, slots=True)
class TargetManifest:
    """One target as written (secret references only); ``spec`` passed its schema."""

    kind: str
    name: str
    spec: dict[str, Any]
    source: str

    @classmethod
    def from_document(cls, doc: dict[str, Any], source: str) -> TargetManifest:
        return cls(str(doc["kind"]), str(doc["metadata"]["name"]), dict(doc["spec"]), source)

    def secret_ref(self, key: str) -> SecretRef:
        return SecretRef.from_dict(self.spec[key])
