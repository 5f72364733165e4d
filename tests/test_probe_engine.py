"""The probe against real aiosmtpd servers on loopback: every failure class for real."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import email
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from reconciler.model import Auth, Effective, SecretRef, Sender, SmtpSettings
from reconciler.probe import FAILURE_CLASSES, STAGES, ProbeResult, probe
from reconciler.probe.classify import one_line
from reconciler.probe.engine import credentials_allowed
from reconciler.redact import Redactor
from tests.fixtures_smtp import LOOPBACK, Pki, RunningServer, ServerSpec, tcp_server

PASSWORD = "s3cret-Pa55word!"
USERS = {"alice": PASSWORD}

Factory = Callable[[ServerSpec], RunningServer]


def run_probe(
    settings: Effective, password: str | None, ca_file: str | None, **kw: Any
) -> ProbeResult:
    return asyncio.run(probe(settings, password, scope_label="host", ca_file=ca_file, **kw))


def plain_settings(port: int, *, host: str = LOOPBACK, timeout_ms: int = 5000) -> Effective:
    return Effective(
        smtp=SmtpSettings(host=host, port=port, tls="none", timeout_ms=timeout_ms),
        sender=Sender("notify@example.test"),
        probe_to="probe@example.test",
    )


@dataclass
class Case:
    id: str
    spec: ServerSpec
    expect: tuple[str, str | None, str, int | None]  # status, class, stage, code
    tls: str | None = None  # client tls mode (default: the server's)
    user: str | None = None
    password: str | None = None
    host: str | None = None
    probe_to: str | None = "probe@example.test"
    timeout_ms: int = 5000
    extra: dict[str, Any] = field(default_factory=dict)


STARTTLS_AUTH = ServerSpec(tls="starttls", users=USERS)
CASES = [
    Case("plain-ok", ServerSpec(), ("passed", None, "quit", 250)),
    Case("starttls-auth-ok", STARTTLS_AUTH, ("passed", None, "quit", 250), user="alice"),
    Case(
        "implicit-auth-ok",
        ServerSpec(tls="implicit", users=USERS),
        ("passed", None, "quit", 250),
        user="alice",
    ),
    Case(
        "starttls-by-name-ok",
        STARTTLS_AUTH,
        ("passed", None, "quit", 250),
        user="alice",
        host="localhost",
    ),
    Case(
        "plain-auth-loopback-ok",
        ServerSpec(users=USERS, auth_require_tls=False),
        ("passed", None, "quit", 250),
        user="alice",
    ),
    Case(
        "no-recipient",
        STARTTLS_AUTH,
        ("passed", None, "quit", 250),
        user="alice",
        probe_to=None,
    ),
    Case(
        "expired-cert-starttls",
        ServerSpec(tls="starttls", cert="expired"),
        ("failed", "tls_certificate", "starttls", None),
    ),
    Case(
        "expired-cert-implicit",
        ServerSpec(tls="implicit", cert="expired"),
        ("failed", "tls_certificate", "tls", None),
    ),
    Case(
        "unknown-ca",
        ServerSpec(tls="starttls", cert="unknown_ca"),
        ("failed", "tls_certificate", "starttls", None),
    ),
    Case(
        "hostname-mismatch",
        ServerSpec(tls="implicit", cert="wrong_host"),
        ("failed", "tls_certificate", "tls", None),
    ),
    Case(
        "starttls-not-offered",
        ServerSpec(tls="none", users=USERS, auth_require_tls=False),
        ("failed", "starttls_unavailable", "starttls", None),
        tls="starttls",
        user="alice",
    ),
    Case(
        "auth-not-offered",
        ServerSpec(tls="starttls", users=USERS, offer_auth=False),
        ("failed", "auth_unavailable", "auth", None),
        user="alice",
    ),
    Case(
        "auth-535",
        STARTTLS_AUTH,
        ("failed", "auth_rejected", "auth", 535),
        user="alice",
        password="wrong-password",
    ),
    Case(
        "sender-550",
        ServerSpec(mail_replies=["550 5.7.1 sender not allowed"]),
        ("failed", "sender_rejected", "mail_from", 550),
    ),
    Case(
        "recipient-550",
        ServerSpec(rcpt_replies=["550 5.1.1 no such user"]),
        ("failed", "recipient_rejected", "rcpt", 550),
    ),
    Case(
        "data-554",
        ServerSpec(data_replies=["554 5.6.0 message refused"]),
        ("failed", "data_rejected", "data", 554),
    ),
    Case(
        "451-greylisted-is-one-attempt",
        ServerSpec(rcpt_replies=["451 4.7.1 greylisted, try later"]),
        ("failed", "temporary", "rcpt", 451),
        extra={"attempts": 1},
    ),
    Case(
        "451-busy",
        ServerSpec(mail_replies=["451 4.3.0 busy"]),
        ("failed", "temporary", "mail_from", 451),
        extra={"attempts": 1},
    ),
    Case(
        "implicit-against-starttls-port",
        ServerSpec(tls="starttls"),
        ("failed", "tls_handshake", "tls", None),
        tls="implicit",
    ),
    Case(
        "starttls-against-implicit-port",
        ServerSpec(tls="implicit"),
        ("failed", "timeout", "banner", None),
        tls="starttls",
        timeout_ms=1000,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_probe_against_server(case: Case, smtp_server: Factory, pki: Pki) -> None:
    server = smtp_server(case.spec)
    settings = server.settings(
        tls=case.tls,  # type: ignore[arg-type]
        host=case.host,
        username=case.user,
        probe_to=case.probe_to,
        timeout_ms=case.timeout_ms,
    )
    password = case.password or (PASSWORD if case.user else None)
    result = run_probe(settings, password, pki.ca_file)

    status, cls, stage, code = case.expect
    assert (result.status, result.failure_class, result.stage, result.code) == (
        status,
        cls,
        stage,
        code,
    ), result
    assert result.failure_class is None or result.failure_class in FAILURE_CLASSES
    assert (result.hint is None) == (status == "passed")
    assert set(result.latency_ms) <= set(STAGES)
    assert "\n" not in result.message
    if "attempts" in case.extra:
        assert result.attempts == case.extra["attempts"]
    for secret in (PASSWORD, base64.b64encode(PASSWORD.encode()).decode()):
        assert secret not in repr(result.to_dict())

    delivered = server.recorder.messages
    if status == "passed" and case.probe_to:
        assert result.sent
        assert len(delivered) == 1
        mail_from, rcpts, raw = delivered[0]
        msg = email.message_from_bytes(raw)
        assert mail_from == "notify@example.test"
        assert rcpts == ["probe@example.test"]
        assert msg["Subject"] == f"mailctl probe host {result.probe_id}"
        assert msg["X-Mailctl-Probe"] == result.probe_id
        assert msg["From"] == "Platform Notifications <notify@example.test>"
        assert msg["To"] == "probe@example.test"
    else:
        assert not result.sent
        assert delivered == []
    if case.id == "no-recipient":
        assert "no probe.to: stopped after MAIL FROM" in result.message
        assert "rcpt" not in result.latency_ms


def test_starttls_missing_never_sends_credentials(smtp_server: Factory, pki: Pki) -> None:
    """A server without STARTTLS (but happy to take AUTH in clear) never sees AUTH."""
    server = smtp_server(ServerSpec(tls="none", users=USERS, auth_require_tls=False))
    settings = server.settings(tls="starttls", username="alice")
    result = run_probe(settings, PASSWORD, pki.ca_file)
    assert result.failure_class == "starttls_unavailable"
    assert server.recorder.sessions == 1
    assert server.recorder.auth_commands == []


@pytest.mark.parametrize("kind", ["dns", "connect_refused", "connect_timeout", "banner_timeout"])
def test_network_failures(kind: str, request: pytest.FixtureRequest) -> None:
    timeout_ms = 1000
    if kind == "dns":
        settings = plain_settings(25, host="nonexistent.invalid")
        expect = ("dns", "dns")
    elif kind == "connect_refused":
        settings = plain_settings(request.getfixturevalue("closed_port"))
        expect = ("connect_refused", "connect")
    elif kind == "connect_timeout":
        settings = plain_settings(request.getfixturevalue("blackhole_port"), timeout_ms=timeout_ms)
        expect = ("connect_timeout", "connect")
    else:
        settings = plain_settings(request.getfixturevalue("silent_port"), timeout_ms=timeout_ms)
        expect = ("timeout", "banner")
    started = time.monotonic()
    result = run_probe(settings, None, None)
    elapsed = time.monotonic() - started
    assert (result.status, result.failure_class, result.stage, result.code) == (
        "failed",
        *expect,
        None,
    ), result
    assert result.hint
    if kind.endswith("timeout"):
        assert 0.8 * timeout_ms / 1000 <= elapsed <= 1.2 * timeout_ms / 1000, elapsed
        assert expect[1] in result.latency_ms


def test_tls_handshake_hint_mentions_ports(smtp_server: Factory, pki: Pki) -> None:
    server = smtp_server(ServerSpec(tls="starttls"))
    result = run_probe(server.settings(tls="implicit"), None, pki.ca_file)
    assert result.failure_class == "tls_handshake"
    assert result.hint is not None and "587" in result.hint and "80" in result.hint


def test_implicit_latency_splits_tls_and_banner(smtp_server: Factory, pki: Pki) -> None:
    server = smtp_server(ServerSpec(tls="implicit"))
    result = run_probe(server.settings(), None, pki.ca_file)
    assert result.passed
    assert list(result.latency_ms) == [
        "dns",
        "connect",
        "tls",
        "banner",
        "ehlo",
        "mail_from",
        "rcpt",
        "data",
        "quit",
    ]


def test_auth_rejection_text_is_redacted(smtp_server: Factory, pki: Pki) -> None:
    """A server that echoes the credentials back: neither the password nor its base64
    (alone or inside the AUTH PLAIN blob) reaches the result."""
    server = smtp_server(ServerSpec(tls="starttls", users={"alice": "other"}))
    echo = _EchoingAuthenticator()
    server.controller.SMTP_kwargs["authenticator"] = echo
    settings = server.settings(username="alice")
    result = run_probe(settings, PASSWORD, pki.ca_file)
    assert result.failure_class == "auth_rejected"
    assert result.code == 535
    assert "***" in result.message
    text = repr(result.to_dict())
    blob = base64.b64encode(b"\0alice\0" + PASSWORD.encode()).decode()
    for secret in (PASSWORD, base64.b64encode(PASSWORD.encode()).decode(), blob):
        assert secret not in text


class _EchoingAuthenticator:
    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        pw = data.password.decode()
        b64 = base64.b64encode(data.password).decode()
        return AuthResult(
            success=False, handled=False, message=f"535 5.7.8 bad password {pw} ({b64})"
        )


@pytest.fixture
def garbage_port() -> Iterator[int]:
    """A TCP server that answers with something that is not SMTP."""

    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        time.sleep(0.2)

    with tcp_server(answer) as port:
        yield port


def test_not_smtp_is_protocol(garbage_port: int) -> None:
    result = run_probe(plain_settings(garbage_port), None, None)
    assert (result.failure_class, result.stage) == ("protocol", "banner"), result


def test_secret_in_redactor_every_alignment() -> None:
    redact = Redactor([PASSWORD])
    for prefix in (b"", b"x", b"xy", b"\0alice\0"):
        blob = base64.b64encode(prefix + PASSWORD.encode() + b"tail").decode()
        assert PASSWORD not in redact(f"535 {blob}")
        cleaned = redact(f"reply {blob}")
        assert cleaned != f"reply {blob}"
    assert one_line("a\r\nb\nc\x00d") == "a | b | c d"


def test_result_json_roundtrip(smtp_server: Factory, pki: Pki) -> None:
    server = smtp_server(ServerSpec())
    result = run_probe(server.settings(), None, None)
    data = result.to_dict()
    assert set(data) >= {
        "status",
        "stage",
        "class",
        "code",
        "message",
        "hint",
        "latency_ms",
        "probe_id",
        "at",
        "endpoint",
        "sent",
    }
    assert data["endpoint"] == f"127.0.0.1:{server.port} none"
    assert data["at"].endswith("Z")
    assert ProbeResult.from_dict(data) == result
    assert dataclasses.replace(result, message="x").message == "x"


def test_auth_helper_model_has_no_secret_value() -> None:
    auth = Auth("alice", SecretRef(env="X"))
    assert "s3cret" not in repr(auth)


def test_unreadable_ca_file_fails_before_connecting(smtp_server: Factory, tmp_path: Any) -> None:
    server = smtp_server(ServerSpec(tls="starttls"))
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("not a certificate\n")
    for ca in (str(bad), str(tmp_path / "missing.pem")):
        result = run_probe(server.settings(), None, ca)
        assert (result.failure_class, result.stage) == ("tls_certificate", "starttls"), result
        assert result.hint and "--ca-file" in result.hint
    assert server.recorder.sessions == 0


@pytest.mark.parametrize(
    ("encrypted", "peer", "allowed"),
    [
        (True, "203.0.113.7", True),
        (False, "127.0.0.1", True),
        (False, "::1", True),
        (False, "127.8.9.10", True),
        (False, "203.0.113.7", False),
        (False, "2001:db8::1", False),
        (False, "not-an-ip", False),
    ],
)
def test_credentials_only_encrypted_or_loopback(encrypted: bool, peer: str, allowed: bool) -> None:
    """The AUTH guard (no connection: tests may only reach loopback, so the non-loopback
    refusal is checked on the decision function the engine calls before AUTH)."""
    assert credentials_allowed(encrypted=encrypted, peer=peer) is allowed
