"""Classification of probe failures: a pure function over the server's reply.

``classify_reply(stage, code, enhanced, text)`` decides the ``FailureClass`` of an SMTP
reply: by the reply's text first (Postfix, Exchange and common servers' phrases), then its
enhanced status code (RFC 3463), then its basic code, and only then by the stage it came
at. So a sender refusal Postfix reports at RCPT (``smtpd_delay_reject=yes``) is still
``sender_rejected``, and ``454 4.7.1 Relay access denied`` is ``relay_denied``, not
``temporary``. Every other 4xx is ``temporary`` (one attempt; re-probing is the daemon's).

Classes and hints live in ``reconciler.probe.classes``; redaction in ``reconciler.redact``.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterable

import aiosmtplib

from reconciler.probe.classes import CA_FILE_UNREADABLE, FAILURE_CLASSES, FailureClass, hint_for
from reconciler.redact import MASK as REDACTED
from reconciler.redact import REDACTOR, Redactor

__all__ = [
    "CA_FILE_UNREADABLE",
    "FAILURE_CLASSES",
    "REDACTED",
    "Failure",
    "FailureClass",
    "Redactor",
    "classify_exception",
    "classify_reply",
    "clean",
    "hint_for",
    "one_line",
    "split_enhanced",
]

F = FailureClass

_ENHANCED = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})(?=[\s:;,.]|$)")


def split_enhanced(text: str) -> tuple[str | None, str]:
    """``("4.7.1", "rest")`` from ``"4.7.1 rest"``; ``(None, text)`` without one."""
    stripped = text.lstrip()
    match = _ENHANCED.match(stripped)
    if match is None:
        return None, text
    return match.group(0), stripped[match.end() :].lstrip()


# Reply phrases that say what went wrong whatever the stage (lower case, first match wins).
_PHRASES: tuple[tuple[str, FailureClass], ...] = (
    ("must issue a starttls command first", F.TLS_REQUIRED),
    ("encryption required", F.TLS_REQUIRED),
    ("must use tls", F.TLS_REQUIRED),
    ("relay access denied", F.RELAY_DENIED),
    ("relaying denied", F.RELAY_DENIED),
    ("unable to relay", F.RELAY_DENIED),
    ("relay not permitted", F.RELAY_DENIED),
    ("relaying not allowed", F.RELAY_DENIED),
)
# The same, but only for permanent (5xx) replies: a 4xx of these is ``temporary``.
_PERMANENT_PHRASES: tuple[tuple[str, FailureClass], ...] = (
    ("helo command rejected", F.HELO_REJECTED),
    ("ehlo command rejected", F.HELO_REJECTED),
    ("client host rejected", F.CLIENT_REJECTED),
    ("sender address rejected: not logged in", F.AUTH_REQUIRED),
    ("authentication required", F.AUTH_REQUIRED),
    ("not authenticated", F.AUTH_REQUIRED),
    ("sender address rejected", F.SENDER_REJECTED),
    ("recipient address rejected", F.RECIPIENT_REJECTED),
    ("user unknown", F.RECIPIENT_REJECTED),
    ("message size exceeds", F.DATA_REJECTED),
)
# RFC 3463 enhanced codes (and a few registered vendor ones) that settle the class.
_ENHANCED_CLASSES: dict[str, FailureClass] = {
    "5.7.8": F.AUTH_REJECTED,  # authentication credentials invalid
    "5.7.9": F.AUTH_REJECTED,  # mechanism too weak
    "5.7.11": F.TLS_REQUIRED,  # encryption required for the mechanism
    "5.7.57": F.AUTH_REQUIRED,  # Office 365: client not authenticated to send mail
    "5.7.60": F.SENDER_REJECTED,  # Office 365: no permission to send as this sender
    "5.6.7": F.SMTPUTF8_UNSUPPORTED,  # non-ASCII addresses not permitted (RFC 6531)
    "5.3.4": F.DATA_REJECTED,  # message too big for system
    "5.1.7": F.SENDER_REJECTED,  # bad sender's mailbox address syntax
    "5.1.8": F.SENDER_REJECTED,  # bad sender's system address
}
_CODES: dict[int, FailureClass] = {
    530: F.AUTH_REQUIRED,  # RFC 4954: authentication required
    534: F.AUTH_REJECTED,
    535: F.AUTH_REJECTED,
    538: F.TLS_REQUIRED,
}
_STAGES: dict[str, FailureClass] = {
    "banner": F.CLIENT_REJECTED,
    "ehlo": F.HELO_REJECTED,
    "ehlo2": F.HELO_REJECTED,
    "starttls": F.STARTTLS_UNAVAILABLE,
    "auth": F.AUTH_REJECTED,
    "mail_from": F.SENDER_REJECTED,
    "rcpt": F.RECIPIENT_REJECTED,
    "data": F.DATA_REJECTED,
}


def classify_reply(stage: str, code: int, enhanced: str | None, text: str) -> FailureClass:
    """The class of a failed SMTP reply: text first, enhanced code, code, then stage."""
    lowered = text.lower()
    for phrase, cls in _PHRASES:
        if phrase in lowered:
            return cls
    if 400 <= code < 500:
        return F.TEMPORARY
    for phrase, cls in _PERMANENT_PHRASES:
        if phrase in lowered:
            return cls
    if enhanced is not None:
        if enhanced in _ENHANCED_CLASSES:
            return _ENHANCED_CLASSES[enhanced]
        if enhanced.startswith("5.1.") and stage in ("rcpt", "mail_from"):
            return F.RECIPIENT_REJECTED if stage == "rcpt" else F.SENDER_REJECTED
        if enhanced == "5.7.1" and stage == "rcpt":
            return F.RELAY_DENIED  # "delivery not authorized" at RCPT: relaying
    if code in _CODES:
        return _CODES[code]
    return _STAGES.get(stage, F.PROTOCOL)


def cert_verify_code(exc: BaseException) -> int | None:
    """The OpenSSL verification error code of a certificate failure, if any."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = getattr(exc, "verify_code", None)
        return int(code) if isinstance(code, int) else None
    return None


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_MAX_MESSAGE = 500


def one_line(text: str, limit: int = _MAX_MESSAGE) -> str:
    """Collapse a (multi-line) server reply or error into one printable line."""
    flat = _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\n", " | "))
    flat = " ".join(flat.split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat


def clean(text: str, redact: Redactor | None = None, extra: Iterable[str] = ()) -> str:
    """Redact secrets first, then flatten to one line."""
    if redact is not None:
        text = redact(text)
    text = REDACTOR.text(text)  # every secret resolved in this process, any scope
    for item in extra:
        if item:
            text = text.replace(item, REDACTED)
    return one_line(text)


class Failure(Exception):
    """A classified failure raised inside a probe."""

    def __init__(
        self,
        failure_class: FailureClass,
        message: str,
        code: int | None = None,
        verify_code: int | None = None,
        enhanced: str | None = None,
    ) -> None:
        super().__init__(message)
        self.failure_class = failure_class
        self.message = message
        self.code = code
        self.verify_code = verify_code
        self.enhanced = enhanced


def reply_failure(stage: str, code: int, reply: str) -> Failure:
    """A failure for an SMTP reply ``code reply`` received at ``stage``."""
    enhanced, _rest = split_enhanced(reply)
    cls = classify_reply(stage, code, enhanced, reply)
    return Failure(cls, reply, code, enhanced=enhanced)


def classify_exception(exc: BaseException, stage: str) -> Failure:
    """Map an exception raised at ``stage`` to a classified failure."""
    if isinstance(exc, Failure):
        return exc
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 8:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    text = str(exc) or type(exc).__name__
    for item in chain:
        if isinstance(item, ssl.SSLCertVerificationError):
            reason = item.verify_message or item.reason or str(item)
            return Failure(
                F.TLS_CERTIFICATE,
                f"certificate verify failed: {reason}",
                verify_code=cert_verify_code(item),
            )
    for item in chain:
        if isinstance(item, ssl.SSLError):
            return Failure(F.TLS_HANDSHAKE, f"TLS handshake failed: {item.reason or item}")
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code > 0:
        return reply_failure(stage, exc.code, exc.message)
    if isinstance(exc, TimeoutError | aiosmtplib.SMTPTimeoutError):
        if stage == "connect":  # the probe's deadline ran out before the stage's own did
            return Failure(F.CONNECT_TIMEOUT, "TCP connect timed out (smtp.timeoutMs)")
        if stage == "dns":
            return Failure(F.DNS, "resolving the host name timed out (smtp.timeoutMs)")
        return Failure(F.TIMEOUT, f"timed out during {stage} (smtp.timeoutMs)")
    if stage in ("tls", "starttls") and isinstance(exc, ConnectionError | aiosmtplib.SMTPException):
        return Failure(F.TLS_HANDSHAKE, f"connection lost during TLS handshake: {text}")
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected | ConnectionError):
        return Failure(F.CONNECTION_CLOSED, f"server closed the connection during {stage}: {text}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return Failure(F.PROTOCOL, f"unparsable reply during {stage}: {exc.message}")
    return Failure(F.PROTOCOL, f"{type(exc).__name__} during {stage}: {text}")
