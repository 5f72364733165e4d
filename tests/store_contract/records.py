"""Sample records for store tests."""

from __future__ import annotations

from typing import Any

from reconciler.errors import StoreError
from reconciler.store import ScopeRecord

READY = {"status": "True", "reason": "Applied", "message": "applied"}
STALLED = {"status": "True", "reason": "InvalidManifest", "message": "configs/orgs/a.yaml:3:1"}


def record(scope: str, revision: str = "rev1", **overrides: Any) -> ScopeRecord:
    effective: dict[str, Any] = {
        "smtp.host": "smtp.example.com",
        "smtp.port": 587,
        "smtp.tls": "starttls",
        "smtp.timeoutMs": 180000,
        "smtp.domain": None,
        "smtp.auth.username": f"{scope}@example.com",
        "smtp.auth.password": "env:SMTP_PASSWORD",
        "from.address": "noreply@example.com",
        "from.displayName": 'Nötifications "quoted" \\ ✉',
        "probe.to": None,
    }
    fields: dict[str, Any] = {
        "scope": scope,
        "mode": "custom",
        "spec": {"mode": "custom", "smtp": {"host": "smtp.example.com", "port": 587}},
        "effective": effective,
        "sources": dict.fromkeys(effective, "org" if scope != "host" else "host"),
        "fingerprint": "ab" * 32,
        "source_file": f"configs/{scope}.yaml",
        "last_applied_revision": revision,
        "last_applied_at": "2024-05-01T12:00:00Z",
        "last_attempted_revision": revision,
        "last_attempted_at": "2024-05-01T12:00:00Z",
        "conditions": {"Ready": READY},
        "probe": {"status": "passed", "stage": "quit", "code": 250, "latency_ms": {"dns": 1.5}},
    }
    fields.update(overrides)
    return ScopeRecord(**fields)


def one_line(exc: BaseException) -> None:
    """A store error as users see it: one line, with a one-line hint."""
    assert "\n" not in str(exc)
    assert isinstance(exc, StoreError)
    assert exc.hint and "\n" not in exc.hint
