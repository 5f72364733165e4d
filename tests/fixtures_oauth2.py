"""OAuth2 fixtures: a real token endpoint over HTTP(S) and a real aiosmtpd XOAUTH2 server.

``TokenEndpoint`` stands in for the Microsoft identity platform token endpoint
(``https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token``), which cannot run here.
It is built from the public documentation of the OAuth 2.0 client-credentials grant
(RFC 6749 §4.4, §5.1, §5.2) and of Microsoft's token response: a form ``POST`` with
``grant_type=client_credentials``, ``client_id``, ``client_secret`` and ``scope``;
success is ``200 {"token_type": "Bearer", "expires_in": N, "ext_expires_in": N,
"access_token": "..."}``; failure is ``400``/``401`` with ``{"error", "error_description"
("AADSTS...: ..."), "error_codes", "timestamp", "trace_id", "correlation_id"}``. It counts
requests and remembers which tokens it issued, so the SMTP server can check them.

The XOAUTH2 SMTP server is aiosmtpd with an ``auth_XOAUTH2`` handler hook (STARTTLS,
trustme certificate). It accepts ``user=<u>\\x01auth=Bearer <token>\\x01\\x01`` when the
endpoint issued that token and it has not expired; otherwise it answers like Office 365
(``535 5.7.3 Authentication unsuccessful``) or like Gmail (``334 <base64 JSON error>``,
then ``535`` after the client's empty line).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from reconciler.model import Auth, Effective, OAuth2, SecretRef, Sender, SmtpSettings
from tests.fixtures_smtp import (
    LOOPBACK,
    Pki,
    Recorder,
    ServerSpec,
    _Controller,
    _Handler,
    free_port,
)

CLIENT_ID = "6f1c2d3e-0000-4000-8000-00000000c0de"
CLIENT_SECRET = "cs~Very.Secret-Client_Value-9f8e7d"
SCOPE = "https://outlook.office365.com/.default"
SENDER = "notify@contoso.example"


@dataclass
class TokenEndpoint:
    """A client-credentials token endpoint on loopback (see the module docstring)."""

    port: int
    scheme: str = "http"
    expires_in: int = 3599
    client_secret: str = CLIENT_SECRET
    # (status, error, description) to answer every request with, or None
    fail_with: tuple[int, str, str] | None = None
    requests: int = 0
    issued: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{LOOPBACK}:{self.port}/contoso.example/oauth2/v2.0/token"

    def valid(self, token: str) -> bool:
        with self.lock:
            expiry = self.issued.get(token)
        return expiry is not None and time.monotonic() < expiry

    def answer(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests += 1
        if self.fail_with is not None:
            status, error, description = self.fail_with
            return status, _error(error, description)
        if form.get("grant_type") != "client_credentials":
            return 400, _error("unsupported_grant_type", "AADSTS70003: unsupported grant")
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != self.client_secret:
            return 401, _error(
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being "
                "sent in the request is the client secret value, not the client secret ID.",
            )
        if form.get("scope") != SCOPE:
            return 400, _error("invalid_scope", "AADSTS70011: The provided scope is invalid.")
        token = "eyJ0eXAiOiJKV1Qi." + secrets.token_urlsafe(24)
        with self.lock:
            self.issued[token] = time.monotonic() + self.expires_in
        return 200, {
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "ext_expires_in": self.expires_in,
            "access_token": token,
        }

    def oauth2(self) -> OAuth2:
        return OAuth2(self.url, CLIENT_ID, SCOPE)


def _error(error: str, description: str) -> dict[str, Any]:
    return {
        "error": error,
        "error_description": description,
        "error_codes": [7000215],
        "timestamp": "2026-11-30 09:00:00Z",
        "trace_id": "0b9f1a2c-0000-4000-8000-000000000001",
        "correlation_id": "0b9f1a2c-0000-4000-8000-000000000002",
    }


def _handler_for(endpoint: TokenEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("ascii", "replace")
            form = {k: v[0] for k, v in urllib.parse.parse_qs(body).items()}
            if self.headers.get("Content-Type") != "application/x-www-form-urlencoded":
                status, data = 400, _error("invalid_request", "AADSTS900144: form expected")
            else:
                status, data = endpoint.answer(form)
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


@pytest.fixture
def token_endpoint(pki: Pki) -> Iterator[Callable[..., TokenEndpoint]]:
    """Factory: ``token_endpoint(https=False, **fields)`` -> a running endpoint."""
    running: list[tuple[TokenEndpoint, threading.Thread]] = []

    def make(https: bool = False, **fields: Any) -> TokenEndpoint:
        endpoint = TokenEndpoint(free_port(), "https" if https else "http", **fields)
        server = ThreadingHTTPServer((LOOPBACK, endpoint.port), _handler_for(endpoint))
        server.daemon_threads = True
        if https:
            ctx = pki.server_context("good")
            server.socket = ctx.wrap_socket(server.socket, server_side=True)
        endpoint.server = server
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        running.append((endpoint, thread))
        return endpoint

    yield make
    for endpoint, thread in running:
        assert endpoint.server is not None
        endpoint.server.shutdown()
        endpoint.server.server_close()
        thread.join(5)


Style = Literal["office365", "gmail"]


class _XOAuth2Handler(_Handler):
    """aiosmtpd handler: ``auth_XOAUTH2`` checks the bearer token with the endpoint."""

    def __init__(
        self, spec: ServerSpec, recorder: Recorder, endpoint: TokenEndpoint, style: Style
    ) -> None:
        super().__init__(spec, recorder)
        self.endpoint = endpoint
        self.style = style
        self.logins: list[tuple[str, bool]] = []  # (user, accepted)
        self.blobs: list[str] = []
        self.deliver: Callable[[bytes], object] | None = None  # e.g. into a Maildir

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if self.deliver is not None and reply.startswith("250"):
            self.deliver(bytes(envelope.original_content or b""))
        return reply

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        if len(args) < 2:
            return AuthResult(success=False, handled=False, message="501 5.5.2 blob expected")
        self.blobs.append(args[1])
        try:
            raw = base64.b64decode(args[1], validate=True).decode()
            fields = dict(part.split("=", 1) for part in raw.split("\x01") if part)
            user, bearer = fields["user"], fields["auth"]
        except (ValueError, KeyError):
            return AuthResult(success=False, handled=False, message="501 5.5.2 bad blob")
        ok = bearer.startswith("Bearer ") and self.endpoint.valid(bearer[len("Bearer ") :])
        self.logins.append((user, ok))
        if ok:
            return AuthResult(success=True, auth_data=user)
        if self.style == "gmail":
            challenge = json.dumps({"status": "401", "schemes": "Bearer", "scope": SCOPE})
            await server.challenge_auth(challenge)
            return AuthResult(
                success=False, handled=False, message="535 5.7.8 Username and Password not accepted"
            )
        return AuthResult(
            success=False, handled=False, message="535 5.7.3 Authentication unsuccessful"
        )


@dataclass
class XOAuth2Server:
    port: int
    handler: _XOAuth2Handler
    controller: _Controller

    def settings(
        self,
        oauth: OAuth2,
        *,
        probe_to: str | None = "probe@contoso.example",
        secret: SecretRef | None = None,
    ) -> Effective:
        return Effective(
            smtp=SmtpSettings(
                host=LOOPBACK,
                port=self.port,
                tls="starttls",
                timeout_ms=5000,
                auth=Auth(SENDER, secret or SecretRef(env="HOST_SMTP_CLIENT_SECRET"), oauth),
            ),
            sender=Sender(SENDER, "Platform Notifications"),
            probe_to=probe_to,
        )


@pytest.fixture
def xoauth2_server(pki: Pki) -> Iterator[Callable[..., XOAuth2Server]]:
    """Factory: ``xoauth2_server(endpoint, style="office365")`` -> a STARTTLS SMTP server."""
    running: list[XOAuth2Server] = []

    def make(endpoint: TokenEndpoint, style: Style = "office365") -> XOAuth2Server:
        recorder = Recorder()
        handler = _XOAuth2Handler(ServerSpec(tls="starttls"), recorder, endpoint, style)
        port = free_port()
        controller = _Controller(
            recorder,
            handler,
            hostname=LOOPBACK,
            port=port,
            server_hostname="smtp.contoso.test",
            tls_context=pki.server_context("good"),
            auth_require_tls=True,
            auth_exclude_mechanism=["LOGIN", "PLAIN"],
            ready_timeout=5.0,
        )
        controller.start()
        server = XOAuth2Server(port, handler, controller)
        running.append(server)
        return server

    yield make
    for server in running:
        server.controller.stop()
