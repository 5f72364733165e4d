"""Failure classes of a probe, each with its fix hint: one table.

A class is a ``StrEnum`` member, so it travels as the plain string of JSON ``class`` and
metric labels (``FailureClass.RELAY_DENIED == "relay_denied"``) and carries its hint
(``FailureClass.RELAY_DENIED.hint``). Hints may name ``{endpoint}``, ``{port}`` and
``{stage}``; ``hint_for`` fills them in and picks a sharper hint where the stage, the
SMTP reply or the X.509 error says more.

Classes beyond DESIGN §4 and §10:

- ``connect_unreachable``: the TCP connect failed for a reason other than refused or
  timed out (no route to host, network unreachable, address not available).
- ``insecure_auth``: ``tls: none`` with ``auth`` to a non-loopback address; the probe
  stops before AUTH so credentials never travel in clear.
- ``connection_closed``: the server closed the connection without a reply (a dropped
  connection is no proof the server "does not speak SMTP").
- ``oauth2_token`` (DESIGN §11): the OAuth2 token endpoint refused or failed.
- ``not_delivered``, ``confirm_auth_rejected``, ``confirm_mailbox`` (DESIGN §11, stage
  ``confirm``): accepted but never received; the IMAP login refused; the mailbox or
  Maildir unreadable.
"""

from __future__ import annotations

from enum import StrEnum


class FailureClass(StrEnum):
    hint: str

    def __new__(cls, value: str, hint: str) -> FailureClass:
        member = str.__new__(cls, value)
        member._value_ = value
        member.hint = hint
        return member

    DNS = (
        "dns",
        "smtp.host does not resolve: check it for typos and check this machine's DNS "
        "resolver (offline machines: use an IP literal or an /etc/hosts entry).",
    )
    CONNECT_REFUSED = (
        "connect_refused",
        "Nothing accepts connections on {endpoint}: check smtp.port (587 starttls, "
        "465 implicit, 25) and that the SMTP server is running and reachable.",
    )
    CONNECT_TIMEOUT = (
        "connect_timeout",
        "No TCP answer from {endpoint} within smtp.timeoutMs: a firewall probably drops "
        "the traffic; open outbound port {port} or raise smtp.timeoutMs.",
    )
    CONNECT_UNREACHABLE = (
        "connect_unreachable",
        "{endpoint} is unreachable from this machine: check routing, VPN and firewall "
        "rules for outbound port {port}.",
    )
    TLS_HANDSHAKE = (
        "tls_handshake",
        "The TLS handshake failed: check that smtp.tls matches the port (465 = implicit, "
        "587 = starttls) and that the server supports TLS 1.2+. On offline machines open "
        "outbound ports 587 and 80 (certificate revocation checks), as Orchestrator "
        "requires.",
    )
    TLS_CERTIFICATE = (
        "tls_certificate",
        "The server certificate is not trusted for smtp.host: trust its CA with "
        "--ca-file PEM (or the system store), renew an expired certificate, and use a "
        "smtp.host name the certificate was issued for.",
    )
    TLS_REQUIRED = (
        "tls_required",
        "The server accepts this only over TLS: set smtp.tls: starttls (ports 587/25) or "
        "tls: implicit (port 465).",
    )
    STARTTLS_UNAVAILABLE = (
        "starttls_unavailable",
        "The server does not offer STARTTLS and mailctl never falls back to plaintext: "
        "enable STARTTLS on the server, or use tls: implicit if the port is 465-style.",
    )
    CLIENT_REJECTED = (
        "client_rejected",
        "The server refuses this client (its address or host name), whatever the "
        "message: ask the server's admin to allow this machine (client access list, "
        "reverse DNS, blocklists), or send through a server that accepts it.",
    )
    HELO_REJECTED = (
        "helo_rejected",
        "The server rejected the EHLO name this machine announced: set "
        "spec.probe.ehloName (or --ehlo-name) to a fully-qualified host name that "
        "resolves, e.g. this machine's public DNS name.",
    )
    AUTH_UNAVAILABLE = (
        "auth_unavailable",
        "The server offers no usable AUTH mechanism (PLAIN, LOGIN, CRAM-MD5) on this "
        "connection, even after TLS: this port may be for relaying without login "
        "(remove smtp.auth if the server relays for this machine), else use the "
        "server's submission port (587 starttls or 465 implicit).",
    )
    AUTH_REQUIRED = (
        "auth_required",
        "The server requires authentication before it accepts mail from this sender: "
        "add smtp.auth (username and password secret).",
    )
    AUTH_REJECTED = (
        "auth_rejected",
        "The server rejected the credentials: check smtp.auth.username, smtp.domain and "
        "the secret behind smtp.auth.password (Office 365/Gmail may need SMTP AUTH "
        "enabled for the mailbox or an app password). With auth.oauth2 the token was "
        "refused: the app needs the SMTP.SendAsApp permission (admin consent) and its "
        "service principal must be granted the mailbox auth.username.",
    )
    INSECURE_AUTH = (
        "insecure_auth",
        "Credentials would travel unencrypted: use tls: starttls or tls: implicit "
        "(tls: none with auth is only allowed to a loopback address).",
    )
    SENDER_REJECTED = (
        "sender_rejected",
        "The server refused the sender: from.address must be an address this account "
        "may send as (most providers require from.address == smtp.auth.username or an "
        "alias of it).",
    )
    RELAY_DENIED = (
        "relay_denied",
        "The server will not relay to probe.to for this client: authenticate "
        "(smtp.auth, on the submission port) or ask the server's admin to allow relaying "
        "from this machine; a probe.to in the server's own domains is accepted without.",
    )
    RECIPIENT_REJECTED = (
        "recipient_rejected",
        "The server refused the probe recipient: check that probe.to exists (no typo, "
        "mailbox not full or disabled).",
    )
    SMTPUTF8_UNSUPPORTED = (
        "smtputf8_unsupported",
        "An address has a non-ASCII local part, which needs the SMTPUTF8 extension, and "
        "the server does not offer it: use an ASCII address for from.address/probe.to "
        "(non-ASCII domains are fine: they are sent as A-labels).",
    )
    DATA_REJECTED = (
        "data_rejected",
        "The server refused the test message (DATA): check its content filters, size "
        "limit and anti-spam policies, and the sender domain's SPF/DKIM/DMARC records.",
    )
    TEMPORARY = (
        "temporary",
        "The server answered with a temporary (4xx) error: mailctl probes again later "
        "by itself; if it persists check rate limits, greylisting or server load.",
    )
    TIMEOUT = (
        "timeout",
        "The server stopped answering during {stage} within smtp.timeoutMs: check the "
        "server's health or raise smtp.timeoutMs.",
    )
    CONNECTION_CLOSED = (
        "connection_closed",
        "The server closed the connection during {stage} without an SMTP reply: it may "
        "limit connections from this machine (rate limits, blocklists, postscreen) or "
        "expect implicit TLS on this port (tls: implicit); its log says why.",
    )
    PROTOCOL = (
        "protocol",
        "The server did not speak the expected SMTP: check that smtp.host and "
        "smtp.port point at an SMTP server and that smtp.tls matches the port.",
    )
    SECRET_UNRESOLVED = (
        "secret_unresolved",
        "The password secret could not be read: provide the environment variable or "
        "file referenced by smtp.auth.password to the mailctl process.",
    )
    OAUTH2_TOKEN = (
        "oauth2_token",
        "The OAuth2 token endpoint refused the client-credentials request or could not "
        "be reached: check auth.oauth2.tokenUrl (tenant), clientId, scope and the secret "
        "behind clientSecret (an expired secret is 'invalid_client'); --ca-file also "
        "applies to the token endpoint.",
    )
    # Delivery confirmation (stage ``confirm``, reconciler.probe.confirm).
    NOT_DELIVERED = (
        "not_delivered",
        "The server accepted the test message but it never arrived in {endpoint} within "
        "probe.confirm.withinMs: look for a bounce at from.address, check the server's "
        "queue and log, the recipient's filters and quarantine, and the sender's "
        "SPF/DKIM/DMARC; raise withinMs if delivery is just slow.",
    )
    CONFIRM_AUTH_REJECTED = (
        "confirm_auth_rejected",
        "The IMAP server rejected the login: check probe.confirm.imap.username and the "
        "secret behind probe.confirm.imap.password (Office 365 needs IMAP enabled for "
        "the mailbox).",
    )
    CONFIRM_MAILBOX = (
        "confirm_mailbox",
        "The mailbox to confirm in cannot be read: check probe.confirm.imap.mailbox / "
        "junk (names as the IMAP server lists them) or the probe.confirm.maildir path.",
    )


FAILURE_CLASSES: tuple[str, ...] = tuple(str(c) for c in FailureClass)

CA_FILE_UNREADABLE = -1  # pseudo verify code: --ca-file could not be loaded

# OpenSSL X509_V_ERR_* codes worth a sharper hint than TLS_CERTIFICATE's.
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
        "The certificate is not valid for the name in smtp.host: use a host name the "
        "certificate was issued for (its subjectAltName), not an alias."
    ),
    64: (
        "smtp.host is an IP address the certificate does not name: use the host name "
        "the certificate was issued for (IP literals only match an IP subjectAltName)."
    ),
}

_BANNER_TIMEOUT_HINT = (
    "The server accepted the connection but sent no SMTP greeting within "
    "smtp.timeoutMs: if the port expects implicit TLS (usually 465) set tls: implicit; "
    "otherwise check the server's health or raise smtp.timeoutMs."
)
_SIZE_HINT = (
    "The test message exceeds the server's size limit (RFC 3463 5.3.4): the probe "
    "message is tiny, so the server's limit is misconfigured; ask its admin."
)
_BANNER_REFUSED_HINT = (
    "The server refuses service to this client at the greeting: ask its admin to allow "
    "this machine's address."
)


def hint_for(
    failure_class: FailureClass,
    *,
    stage: str,
    endpoint: str,
    port: int,
    enhanced: str | None = None,
    verify_code: int | None = None,
) -> str:
    """The hint of a class, sharpened by stage, enhanced status code or X.509 error."""
    if failure_class is FailureClass.TLS_CERTIFICATE and verify_code in _CERT_HINTS:
        return _CERT_HINTS[verify_code]
    if failure_class is FailureClass.TIMEOUT and stage == "banner":
        return _BANNER_TIMEOUT_HINT
    if failure_class is FailureClass.DATA_REJECTED and enhanced == "5.3.4":
        return _SIZE_HINT
    if failure_class is FailureClass.CLIENT_REJECTED and stage == "banner":
        return _BANNER_REFUSED_HINT
    return failure_class.hint.format(endpoint=endpoint, port=port, stage=stage)
