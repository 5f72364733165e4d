"""Probe inputs and outputs: ``ProbeTarget`` (one scope to probe) and ``ProbeResult``.

Stages, in order (like swaks): ``dns``, ``connect``, ``tls`` (implicit TLS only),
``banner``, ``ehlo``, ``starttls``, ``ehlo2`` (the EHLO repeated inside TLS after
STARTTLS; a separate name so per-stage latency keeps both), ``auth``, ``mail_from``,
``rcpt``, ``data``, ``quit``, then ``confirm`` (delivery confirmation, DESIGN §11, when
``probe.confirm`` is set). ``ProbeResult.stage`` is the last stage reached: the failed
one when ``status == "failed"``, ``quit`` (or ``confirm``) when the probe passed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from reconciler.clock import utc_now_ms
from reconciler.model import Effective
from reconciler.probe import classify as C
from reconciler.probe.classes import FailureClass, hint_for

STAGES: tuple[str, ...] = (
    "dns",
    "connect",
    "tls",
    "banner",
    "ehlo",
    "starttls",
    "ehlo2",
    "auth",
    "mail_from",
    "rcpt",
    "data",
    "quit",
    "confirm",
)

Status = Literal["passed", "failed"]


def new_probe_id() -> str:
    """A short random id, also used in the test message's subject and header."""
    return secrets.token_hex(6)


def endpoint_label(settings: Effective) -> str:
    """``host:port tls`` (IPv6 literals bracketed)."""
    host = settings.smtp.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{settings.smtp.port} {settings.smtp.tls}"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    status: Status
    stage: str
    failure_class: str | None
    code: int | None
    message: str
    hint: str | None
    latency_ms: dict[str, float]
    probe_id: str
    at: str
    endpoint: str
    sent: bool
    attempts: int = 1
    delivery: str | None = None  # delivered | delivered_junk | not_delivered (confirm)
    delivery_ms: float | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``class`` for ``failure_class``; ``attempts`` is additive."""
        return {
            "status": self.status,
            "stage": self.stage,
            "class": self.failure_class,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "latency_ms": dict(self.latency_ms),
            "probe_id": self.probe_id,
            "at": self.at,
            "endpoint": self.endpoint,
            "sent": self.sent,
            "attempts": self.attempts,
            "delivery": self.delivery,
            "deliveryMs": self.delivery_ms,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeResult:
        """Inverse of ``to_dict`` (tolerates a ``scopes`` key and missing extras)."""
        code = data.get("code")
        return cls(
            status="passed" if data.get("status") == "passed" else "failed",
            stage=str(data.get("stage", "")),
            failure_class=data.get("class"),
            code=int(code) if code is not None else None,
            message=str(data.get("message", "")),
            hint=data.get("hint"),
            latency_ms={str(k): float(v) for k, v in (data.get("latency_ms") or {}).items()},
            probe_id=str(data.get("probe_id", "")),
            at=str(data.get("at", "")),
            endpoint=str(data.get("endpoint", "")),
            sent=bool(data.get("sent", False)),
            attempts=int(data.get("attempts", 1)),
            delivery=data.get("delivery"),
            delivery_ms=float(data["deliveryMs"]) if data.get("deliveryMs") is not None else None,
        )


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """One scope to probe. ``password`` is the resolved secret value (never logged)."""

    scope: str
    settings: Effective
    password: str | None = field(repr=False)
    secret_error: str | None = None
    fingerprint: str | None = None
    # The IMAP password of ``settings.confirm.imap`` (or why it could not be resolved).
    confirm_password: str | None = field(default=None, repr=False)
    confirm_error: str | None = None


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    """One executed (deduplicated) probe and every scope that shares its result."""

    result: ProbeResult
    scopes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"scopes": list(self.scopes), **self.result.to_dict()}


def unsent_failure(
    settings: Effective,
    cls: FailureClass,
    stage: str,
    message: str,
    *,
    probe_id: str | None = None,
) -> ProbeResult:
    """A failed result for a probe that never got to send anything (no attempt counted)."""
    endpoint = endpoint_label(settings)
    return ProbeResult(
        status="failed",
        stage=stage,
        failure_class=str(cls),
        code=None,
        message=C.one_line(message),
        hint=hint_for(cls, stage=stage, endpoint=endpoint, port=settings.smtp.port),
        latency_ms={},
        probe_id=probe_id or new_probe_id(),
        at=utc_now_ms(),
        endpoint=endpoint,
        sent=False,
        attempts=0,
    )


def secret_unresolved_result(
    settings: Effective, error: str, *, probe_id: str | None = None
) -> ProbeResult:
    """The result for a scope whose password could not be resolved (no connection made)."""
    return unsent_failure(
        settings, FailureClass.SECRET_UNRESOLVED, "auth", error, probe_id=probe_id
    )


def internal_error_result(settings: Effective, exc: BaseException) -> ProbeResult:
    """A ``protocol`` result for an unexpected error (never raised to the caller)."""
    message = f"internal error: {type(exc).__name__}"
    return unsent_failure(settings, FailureClass.PROTOCOL, "connect", message)
