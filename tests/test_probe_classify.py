"""The failure classifier as a table: (stage, reply) -> class, plus the class table itself."""

from __future__ import annotations

import pytest

from reconciler.probe.classes import FAILURE_CLASSES, FailureClass, hint_for
from reconciler.probe.classify import classify_reply, reply_failure, split_enhanced

# (stage, code, reply text as the server wrote it after the code, expected class)
REPLIES: list[tuple[str, int, str, str]] = [
    # Postfix with smtpd_delay_reject=yes answers sender/HELO/client restrictions at RCPT.
    (
        "rcpt",
        553,
        "5.7.1 <a@x.test>: Sender address rejected: not owned by user b@x.test",
        "sender_rejected",
    ),
    ("rcpt", 553, "5.7.1 <a@x.test>: Sender address rejected: not logged in", "auth_required"),
    ("mail_from", 553, "5.7.1 <a@x.test>: Sender address rejected: not logged in", "auth_required"),
    (
        "rcpt",
        504,
        "5.5.2 <vm>: Helo command rejected: need fully-qualified hostname",
        "helo_rejected",
    ),
    (
        "rcpt",
        554,
        "5.7.1 <localhost[127.0.0.1]>: Client host rejected: Access denied",
        "client_rejected",
    ),
    ("rcpt", 454, "4.7.1 <x@remote.test>: Relay access denied", "relay_denied"),
    ("rcpt", 554, "5.7.1 <x@remote.test>: Relay access denied", "relay_denied"),
    ("rcpt", 550, "5.7.1 Unable to relay", "relay_denied"),
    ("rcpt", 550, "5.7.1 Delivery not authorized", "relay_denied"),
    ("mail_from", 530, "5.7.0 Must issue a STARTTLS command first", "tls_required"),
    (
        "auth",
        538,
        "5.7.11 Encryption required for requested authentication mechanism",
        "tls_required",
    ),
    ("mail_from", 530, "5.7.0 Authentication required", "auth_required"),
    ("mail_from", 530, "5.7.57 Client not authenticated to send mail", "auth_required"),
    ("mail_from", 554, "5.7.60 SendAsDenied; user not allowed to send as", "sender_rejected"),
    ("mail_from", 550, "5.7.1 sender not allowed", "sender_rejected"),
    ("mail_from", 553, "5.1.8 <a@nx.test>: Domain not found", "sender_rejected"),
    (
        "rcpt",
        550,
        "5.1.1 <nobody@x.test>: Recipient address rejected: User unknown in local recipient table",
        "recipient_rejected",
    ),
    ("rcpt", 550, "5.1.1 no such user", "recipient_rejected"),
    ("rcpt", 552, "5.2.2 mailbox full", "recipient_rejected"),
    ("rcpt", 553, "5.6.7 non-ASCII addresses are not permitted", "smtputf8_unsupported"),
    ("data", 552, "5.3.4 Message size exceeds fixed limit", "data_rejected"),
    ("data", 550, "5.7.1 probes not welcome here", "data_rejected"),
    ("data", 554, "5.6.0 message refused", "data_rejected"),
    ("auth", 535, "5.7.8 Error: authentication failed: authentication failure", "auth_rejected"),
    ("auth", 534, "5.7.9 Please log in with your web browser", "auth_rejected"),
    ("rcpt", 450, "4.7.1 <x@y.test>: Recipient address rejected: greylisted", "temporary"),
    ("rcpt", 451, "4.3.0 <x@y.test>: Temporary lookup failure", "temporary"),
    ("mail_from", 421, "4.7.0 Too many connections, try later", "temporary"),
    ("rcpt", 450, "4.7.1 <vm>: Helo command rejected: Host not found", "temporary"),
    ("banner", 554, "5.7.1 your address is listed at a blocklist", "client_rejected"),
    ("ehlo", 501, "5.5.2 Syntax: EHLO hostname", "helo_rejected"),
    ("ehlo2", 550, "not today", "helo_rejected"),
    ("starttls", 502, "5.5.1 command not implemented", "starttls_unavailable"),
    ("quit", 500, "what", "protocol"),
]


@pytest.mark.parametrize(
    ("stage", "code", "text", "expected"), REPLIES, ids=[f"{r[1]}-{r[3]}" for r in REPLIES]
)
def test_classify_reply(stage: str, code: int, text: str, expected: str) -> None:
    enhanced, _rest = split_enhanced(text)
    assert classify_reply(stage, code, enhanced, text) == expected
    failure = reply_failure(stage, code, text)
    assert (failure.failure_class, failure.code, failure.enhanced) == (expected, code, enhanced)


@pytest.mark.parametrize(
    ("text", "enhanced", "rest"),
    [
        ("4.7.1 <x>: Relay access denied", "4.7.1", "<x>: Relay access denied"),
        ("5.7.57 Client not authenticated", "5.7.57", "Client not authenticated"),
        ("  2.0.0 Ok", "2.0.0", "Ok"),
        ("Must issue a STARTTLS command first", None, "Must issue a STARTTLS command first"),
        ("5.7.1x not a code", None, "5.7.1x not a code"),
        ("6.1.1 no such class", None, "6.1.1 no such class"),
    ],
)
def test_split_enhanced(text: str, enhanced: str | None, rest: str) -> None:
    assert split_enhanced(text) == (enhanced, rest)


def test_every_class_is_a_string_with_its_own_hint() -> None:
    hints = [c.hint for c in FailureClass]
    assert len(set(hints)) == len(hints)
    assert tuple(c.value for c in FailureClass) == FAILURE_CLASSES
    assert FailureClass.RELAY_DENIED == "relay_denied"
    assert f"{FailureClass.TLS_REQUIRED}" == "tls_required"
    for cls in FailureClass:
        text = hint_for(cls, stage="rcpt", endpoint="mx.example:25 none", port=25)
        assert "{" not in text and text.endswith(".")


@pytest.mark.parametrize(
    ("cls", "kwargs", "needle"),
    [
        (FailureClass.TLS_REQUIRED, {}, "tls: starttls"),
        (FailureClass.RELAY_DENIED, {}, "relay"),
        (FailureClass.HELO_REJECTED, {}, "ehloName"),
        (FailureClass.AUTH_REQUIRED, {}, "add smtp.auth"),
        (FailureClass.SENDER_REJECTED, {}, "from.address"),
        (FailureClass.RECIPIENT_REJECTED, {}, "probe.to"),
        (FailureClass.TEMPORARY, {}, "greylisting"),
        (FailureClass.CONNECTION_CLOSED, {}, "closed the connection during rcpt"),
        (FailureClass.TLS_CERTIFICATE, {"verify_code": 64}, "IP"),
        (FailureClass.TLS_CERTIFICATE, {"verify_code": 62}, "host name"),
        (FailureClass.DATA_REJECTED, {"enhanced": "5.3.4"}, "size limit"),
        (FailureClass.SMTPUTF8_UNSUPPORTED, {}, "SMTPUTF8"),
        (FailureClass.TLS_HANDSHAKE, {}, "ports 587 and 80"),
    ],
)
def test_hints_say_what_to_do(cls: FailureClass, kwargs: dict[str, object], needle: str) -> None:
    text = hint_for(cls, stage="rcpt", endpoint="mx:25 none", port=25, **kwargs)  # type: ignore[arg-type]
    assert needle in text


def test_wrong_hints_are_gone() -> None:
    """The hints the issue quoted as misleading are not what these classes say."""
    assert "add smtp.auth" not in FailureClass.TLS_REQUIRED.hint
    assert "submission port" not in FailureClass.TLS_REQUIRED.hint
    assert "did not speak" not in FailureClass.CONNECTION_CLOSED.hint
    assert "check probe.to" not in FailureClass.SENDER_REJECTED.hint
