"""``WebhookTarget``: one signed JSON document per changed scope (DESIGN §12).

The body is ``{"format_version", "scope", "revision", "settings", "fingerprint"}``:
``settings`` are the scope's applied flat effective settings with secret *references*
(``env:NAME`` / ``file:PATH``), never values, for platforms that resolve their own
secrets; ``fingerprint`` is the keyed fingerprint of the secret (it changes on rotation).
The header ``X-Mailctl-Signature: sha256=<hex>`` is HMAC-SHA256 of the exact body bytes
with ``spec.secret``. A document is sent when the settings or the fingerprint changed
since the last successful delivery (a new revision alone sends nothing). A scope that
leaves the store (a pruned org) is sent ``{"format_version", "scope", "revision",
"deleted": true}`` once, signed the same way. Delivery is at-least-once: a receiver should
treat documents as idempotent (the latest wins).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from reconciler.errors import TargetError
from reconciler.model import WEBHOOK_TARGET_KIND
from reconciler.redact import REDACTOR
from reconciler.store import ScopeRecord

from .base import Outcome, SyncContext, Want, Work, fan_out
from .http import HttpClient, call
from .manifest import TargetManifest
from .state import SyncState

FORMAT_VERSION = "1.0"
SIGNATURE_HEADER = "X-Mailctl-Signature"
DOCUMENT_KEY = "document"  # Want.values holds one key: the document's content hash
DELETED = "deleted"  # ... or this, for a scope that left the store


def document(record: ScopeRecord, revision: str | None) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "scope": record.scope,
        "revision": revision,
        "settings": dict(sorted(record.effective.items())),
        "fingerprint": record.fingerprint,
    }


def deleted(scope: str, revision: str | None) -> dict[str, Any]:
    """The document of a scope that left the store (a pruned org), sent once."""
    return {"format_version": FORMAT_VERSION, "scope": scope, "revision": revision, "deleted": True}


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _content_hash(record: ScopeRecord) -> str:
    text = json.dumps([record.effective, record.fingerprint], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class WebhookTarget:
    kind: ClassVar[str] = WEBHOOK_TARGET_KIND

    def __init__(self, manifest: TargetManifest) -> None:
        spec = manifest.spec
        self.name = manifest.name
        self.url = str(spec["url"])
        self.secret = manifest.secret_ref("secret")
        self.timeout_s = int(spec.get("timeoutMs", 30_000)) / 1000
        self.concurrency = int(spec.get("concurrency", 8))

    def want(
        self, record: ScopeRecord, target_ids: Mapping[str, str] | None, known: str | None
    ) -> Want:
        return Want(None, {DOCUMENT_KEY: _content_hash(record)})

    def removed(self, inherited: ScopeRecord, previous: SyncState) -> Want:
        """A pruned scope: one ``deleted`` document tells the receiver to forget it."""
        return Want(None, {DOCUMENT_KEY: DELETED})

    def sync(self, work: Sequence[Work], ctx: SyncContext) -> list[Outcome]:
        def session(key: str, client: HttpClient) -> Callable[[Work], Outcome]:
            return functools.partial(self._post, key, client, ctx)

        return fan_out(work, ctx, self.secret, self, session)

    def _post(self, key: str, client: HttpClient, ctx: SyncContext, w: Work) -> Outcome:
        """One scope's document, signed with ``key``."""
        if not w.changed_keys:  # a drift check: nothing to compare with a webhook
            return Outcome(w.scope, True, "Synced", "document delivered")
        revision = w.record.last_applied_revision or ctx.revision
        doc = deleted(w.scope, revision) if w.removed else document(w.record, revision)
        body = json.dumps(doc, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature(key, body)}
        try:
            call(
                client,
                "POST",
                self.url,
                lambda: headers,
                body,
                policy=ctx.retry,
                sleep=ctx.sleep,
            )
        except TargetError as exc:
            return Outcome(w.scope, False, exc.reason, REDACTOR(exc.message))
        return Outcome(w.scope, True, "Synced", "document delivered", (DOCUMENT_KEY,))
