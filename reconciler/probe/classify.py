"""Failure classes and fix hints for SMTP probe results (redaction: ``reconciler.redact``).

Classes are plain strings (they travel as JSON ``class`` and as metric labels). DESIGN §4
lists the required ones; two more are added here:

- ``connect_unreachable``: the TCP connect failed for a reason other than refused or
  timed out (no route to host, network unreachable, address not available).
- ``insecure_auth``: ``tls: none`` with ``auth`` to a non-loopback address; the probe
  stops before AUTH so credentials never travel in clear.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterable

import aiosmtplib

from reconciler.redact import MASK as REDACTED
from reconciler.redact import REDACTOR, Redactor

DNS = "dns"
CONNECT_REFUSED = "connect_refused"
CONNECT_TIMEOUT = "connect_timeout"
CONNECT_UNREACHABLE = "connect_unreachable"
TLS_HANDSHAKE = "tls_handshake"
TLS_CERTIFICATE = "tls_certificate"
STARTTLS_UNAVAILABLE = "starttls_unavailable"
AUTH_UNAVAILABLE = "auth_unavailable"
AUTH_REJECTED = "auth_rejected"
INSECURE_AUTH = "insecure_auth"
SENDER_REJECTED = "sender_rejected"
RECIPIENT_REJECTED = "recipient_rejected"
DATA_REJECTED = "data_rejected"
TEMPORARY = "temporary"
TIMEOUT = "timeout"
PROTOCOL = "protocol"
SECRET_UNRESOLVED = "secret_unresolved"

FAILURE_CLASSES: tuple[str, ...] = (
    DNS,
    CONNECT_REFUSED,
    CONNECT_TIMEOUT,
    CONNECT_UNREACHABLE,
    TLS_HANDSHAKE,
    TLS_CERTIFICATE,
    STARTTLS_UNAVAILABLE,
    AUTH_UNAVAILABLE,
    AUTH_REJECTED,
    INSECURE_AUTH,
    SENDER_REJECTED,
    RECIPIENT_REJECTED,
    DATA_REJECTED,
    TEMPORARY,
    TIMEOUT,
    PROTOCOL,
    SECRET_UNRESOLVED,
)

TLS_HANDSHAKE_HINT = (
    "The TLS handshake failed: check that smtp.tls matches the port (465 = implicit, "
    "587 = starttls) and that the server supports TLS 1.2+. On offline machines open "
    "outbound ports 587 and 80 (certificate revocation checks), as Orchestrator requires."
)

_HINTS: dict[str, str] = {
    DNS: (
        "smtp.host does not resolve: check it for typos and check this machine's DNS "
        "resolver (offline machines: use an IP literal or an /etc/hosts entry)."
    ),
    CONNECT_REFUSED: (
        "Nothing accepts connections on {endpoint}: check smtp.port (587 starttls, "
        "465 implicit, 25) and that the SMTP server is running and reachable."
    ),
    CONNECT_TIMEOUT: (
        "No TCP answer from {endpoint} within smtp.timeoutMs: a firewall probably drops "
        "the traffic; open outbound port {port} or raise smtp.timeoutMs."
    ),
    CONNECT_UNREACHABLE: (
        "{endpoint} is unreachable from this machine: check routing, VPN and firewall "
        "rules for outbound port {port}."
    ),
    TLS_HANDSHAKE: TLS_HANDSHAKE_HINT,
    TLS_CERTIFICATE: (
        "The server certificate is not trusted for smtp.host: trust its CA with "
        "--ca-file PEM (or the system store), renew an expired certificate, and use a "
        "smtp.host name the certificate was issued for."
    ),
    STARTTLS_UNAVAILABLE: (
        "The server does not offer STARTTLS and mailctl never falls back to plaintext: "
        "enable STARTTLS on the server, or use tls: implicit if the port is 465-style."
    ),
    AUTH_UNAVAILABLE: (
        "The server offers no usable AUTH mechanism (PLAIN, LOGIN, CRAM-MD5) on this "
        "connection: remove smtp.auth if it relays without login, or use the "
        "submission port (587) with TLS."
    ),
    AUTH_REJECTED: (
        "The server rejected the credentials: check smtp.auth.username, smtp.domain and "
        "the secret behind smtp.auth.password (Office 365/Gmail may need SMTP AUTH "
        "enabled for the mailbox or an app password)."
    ),
    INSECURE_AUTH: (
        "Credentials would travel unencrypted: use tls: starttls or tls: implicit "
        "(tls: none with auth is only allowed to a loopback address)."
    ),
    SENDER_REJECTED: (
        "The server refused MAIL FROM: from.address must be a sender the account may "
        "use (Gmail and Office 365 require from.address == smtp.auth.username)."
    ),
    RECIPIENT_REJECTED: (
        "The server refused the probe recipient: check that probe.to exists and that "
        "this account may relay to it."
    ),
    DATA_REJECTED: (
        "The server refused the test message (DATA): check its content, size and "
        "anti-spam policies and the sender domain's SPF/DKIM records."
    ),
    TEMPORARY: (
        "The server kept answering with a temporary (4xx) error after retries: try "
        "again later; if it persists check rate limits, greylisting or server load."
    ),
    TIMEOUT: (
        "The server stopped answering during {stage} within smtp.timeoutMs: check the "
        "server's health or raise smtp.timeoutMs."
    ),
    PROTOCOL: (
        "The server did not speak the expected SMTP: check that smtp.host and "
        "smtp.port point at an SMTP server and that smtp.tls matches the port."
    ),
    SECRET_UNRESOLVED: (
        "The password secret could not be read: provide the environment variable or "
        "file referenced by smtp.auth.password to the mailctl process."
    ),
}

_BANNER_TIMEOUT_HINT = (
    "The server accepted the connection but sent no SMTP greeting within "
    "smtp.timeoutMs: if the port expects implicit TLS (usually 465) set tls: implicit; "
    "otherwise check the server's health or raise smtp.timeoutMs."
)

CA_FILE_UNREADABLE = -1  # pseudo verify code: --ca-file could not be loaded

# OpenSSL X509_V_ERR_* codes worth a specific hint.
_CERT_HINTS: dict[int, str] = {
    CA_FILE_UNREADABLE: (
        "The --ca-file (MAILCTL_CA_FILE) could not be loaded: point it at a readable "
        "PEM file with the CA certificate(s)."
    ),
    10: "The server certificate has expired: renew it on the server.",
    9: "The server certificate is not valid yet: check the server's and this clock.",
    18: (
        "The server uses a self-signed certificate: trust it with --ca-file PEM "
        "(or the system store)."
    ),
    19: (
        "The server's certificate chain ends in an untrusted root: trust that CA with "
        "--ca-file PEM (or the system store)."
    ),
    20: (
        "The certificate's issuing CA is unknown here: trust it with --ca-file PEM "
        "(or the system store), or fix the chain the server sends."
    ),
    62: (
        "The certificate is not valid for smtp.host: use a host name the certificate "
        "was issued for (its subjectAltName), not an alias or IP."
    ),
}


def hint_for(
    failure_class: str,
    *,
    stage: str,
    endpoint: str,
    port: int,
    code: int | None = None,
    verify_code: int | None = None,
) -> str:
    """A fix hint for a failure class, specialised by stage, SMTP code or X.509 error."""
    if failure_class == TLS_CERTIFICATE and verify_code in _CERT_HINTS:
        return _CERT_HINTS[verify_code]
    if failure_class == TIMEOUT and stage == "banner":
        return _BANNER_TIMEOUT_HINT
    if failure_class == SENDER_REJECTED and code == 530:
        return "The server requires authentication before MAIL FROM: add smtp.auth."
    if failure_class == PROTOCOL and stage == "banner" and code is not None and code >= 500:
        return f"The server refuses service to this client (greeting {code}); ask its admin."
    template = _HINTS.get(failure_class, _HINTS[PROTOCOL])
    return template.format(endpoint=endpoint, port=port, stage=stage)


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
    """A classified failure raised inside an attempt."""

    def __init__(
        self,
        failure_class: str,
        message: str,
        code: int | None = None,
        verify_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.failure_class = failure_class
        self.message = message
        self.code = code
        self.verify_code = verify_code


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
                TLS_CERTIFICATE,
                f"certificate verify failed: {reason}",
                verify_code=cert_verify_code(item),
            )
    for item in chain:
        if isinstance(item, ssl.SSLError):
            return Failure(TLS_HANDSHAKE, f"TLS handshake failed: {item.reason or item}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        code, reply = exc.code, exc.message
        if 400 <= code < 500:
            return Failure(TEMPORARY, reply, code)
        by_stage = {
            "auth": AUTH_REJECTED,
            "mail_from": SENDER_REJECTED,
            "rcpt": RECIPIENT_REJECTED,
            "data": DATA_REJECTED,
        }
        return Failure(by_stage.get(stage, PROTOCOL), reply, code if code > 0 else None)
    if isinstance(exc, TimeoutError | aiosmtplib.SMTPTimeoutError):
        return Failure(TIMEOUT, f"timed out during {stage} (smtp.timeoutMs)")
    if stage in ("tls", "starttls") and isinstance(exc, ConnectionError | aiosmtplib.SMTPException):
        return Failure(TLS_HANDSHAKE, f"connection lost during TLS handshake: {text}")
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected | ConnectionError):
        return Failure(PROTOCOL, f"server closed the connection during {stage}: {text}")
    if isinstance(exc, ValueError):
        return Failure(PROTOCOL, f"invalid probe input at {stage}: {text}")
    return Failure(PROTOCOL, f"{type(exc).__name__} during {stage}: {text}")
