"""SMTP server fixtures: real aiosmtpd servers on free loopback ports, trustme PKI.

Everything binds to 127.0.0.1 only. ``smtp_server(spec)`` starts an aiosmtpd Controller
(its own thread and loop) that behaves as ``ServerSpec`` says and records what clients
did (sessions, concurrent sessions, AUTH commands, delivered messages).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from reconciler.model import Auth, Effective, SecretRef, Sender, SmtpSettings

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def tcp_server(handle: Callable[[socket.socket], None]) -> Iterator[int]:
    """A raw TCP server on 127.0.0.1 (not SMTP unless ``handle`` speaks it): each connection
    is given to ``handle`` in its own thread (10 s socket timeout; an OSError there ends
    that connection only) and closed afterwards. Yields the port."""
    listener = socket.socket()
    listener.bind((LOOPBACK, 0))
    listener.listen(8)
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the client went away or timed out
            handle(conn)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(10)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()


@dataclass(frozen=True)
class Pki:
    ca_file: str
    certs: dict[str, trustme.LeafCert]

    def server_context(self, name: str) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.certs[name].configure_cert(ctx)
        return ctx


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A trusted CA (``ca_file``) and server certs: good, expired, wrong_host, unknown_ca."""
    ca = trustme.CA()
    other_ca = trustme.CA()
    now = dt.datetime.now(dt.UTC)
    names = ("localhost", LOOPBACK, "::1")
    certs = {
        "good": ca.issue_cert(*names),
        "expired": ca.issue_cert(
            *names, not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
        ),
        "wrong_host": ca.issue_cert("mail.other.example"),
        "unknown_ca": other_ca.issue_cert(*names),
    }
    path = tmp_path_factory.mktemp("pki") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return Pki(ca_file=str(path), certs=certs)


@dataclass
class ServerSpec:
    tls: Literal["none", "starttls", "implicit"] = "none"
    cert: str = "good"
    users: dict[str, str] | None = None  # AUTH accounts; None = no authenticator
    offer_auth: bool = True  # False: strip the AUTH line from EHLO
    auth_require_tls: bool = True
    mail_replies: list[str | None] = field(default_factory=list)  # per call; None = accept
    rcpt_replies: list[str | None] = field(default_factory=list)
    data_replies: list[str | None] = field(default_factory=list)
    delay_s: float = 0.0  # sleep in MAIL FROM (to hold sessions open)


class Recorder:
    """What the server saw. Thread-safe; read it from the test thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sessions = 0
        self.active = 0
        self.max_active = 0
        self.auth_commands: list[str] = []
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.calls: dict[str, int] = {}

    def reset(self) -> None:
        with self.lock:
            self.sessions = self.active = self.max_active = 0
            self.auth_commands.clear()
            self.messages.clear()
            self.calls.clear()

    def next_call(self, verb: str) -> int:
        with self.lock:
            n = self.calls.get(verb, 0)
            self.calls[verb] = n + 1
            return n


class _RecordingSMTP(SMTP):  # type: ignore[misc]
    recorder: Recorder

    def connection_made(self, transport: Any) -> None:
        if self._original_transport is None and not getattr(self, "_counted", False):
            self._counted = True
            with self.recorder.lock:
                self.recorder.sessions += 1
                self.recorder.active += 1
                self.recorder.max_active = max(self.recorder.max_active, self.recorder.active)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if getattr(self, "_counted", False):
            self._counted = False
            with self.recorder.lock:
                self.recorder.active -= 1
        super().connection_lost(error)

    async def smtp_AUTH(self, arg: str) -> None:
        with self.recorder.lock:
            self.recorder.auth_commands.append(arg.split(" ", 1)[0].upper())
        await super().smtp_AUTH(arg)


class _Handler:
    def __init__(self, spec: ServerSpec, recorder: Recorder) -> None:
        self.spec = spec
        self.recorder = recorder

    def _scripted(self, verb: str, replies: list[str | None]) -> str | None:
        n = self.recorder.next_call(verb)
        return replies[n] if n < len(replies) else None

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if not self.spec.offer_auth:
            responses = [r for r in responses if not r[4:].upper().startswith("AUTH")]
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.spec.delay_s:
            import asyncio

            await asyncio.sleep(self.spec.delay_s)
        reply = self._scripted("MAIL", self.spec.mail_replies)
        if reply is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self._scripted("RCPT", self.spec.rcpt_replies)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = self._scripted("DATA", self.spec.data_replies)
        if reply is not None:
            return reply
        content = envelope.original_content or b""
        with self.recorder.lock:
            self.recorder.messages.append(
                (str(envelope.mail_from), list(envelope.rcpt_tos), bytes(content))
            )
        return "250 Message accepted for delivery"


class _Authenticator:
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            user, password = data.login.decode(), data.password.decode()
            if self.users.get(user) == password:
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)


class _Controller(Controller):  # type: ignore[misc]
    def __init__(self, recorder: Recorder, *args: Any, **kwargs: Any) -> None:
        self.recorder = recorder
        super().__init__(*args, **kwargs)

    def factory(self) -> SMTP:
        server = _RecordingSMTP(self.handler, **self.SMTP_kwargs)
        server.recorder = self.recorder
        return server


@dataclass
class RunningServer:
    host: str
    port: int
    spec: ServerSpec
    recorder: Recorder
    controller: _Controller

    def settings(
        self,
        *,
        tls: Literal["starttls", "implicit", "none"] | None = None,
        host: str | None = None,
        username: str | None = None,
        timeout_ms: int = 5000,
        probe_to: str | None = "probe@example.test",
        sender: str = "notify@example.test",
        display_name: str | None = "Platform Notifications",
    ) -> Effective:
        auth = Auth(username, SecretRef(env="UNUSED")) if username else None
        return Effective(
            smtp=SmtpSettings(
                host=host or self.host,
                port=self.port,
                tls=tls or ("none" if self.spec.tls == "none" else self.spec.tls),
                timeout_ms=timeout_ms,
                auth=auth,
            ),
            sender=Sender(sender, display_name),
            probe_to=probe_to,
        )


def start_server(spec: ServerSpec, pki: Pki | None = None) -> RunningServer:
    recorder = Recorder()
    kwargs: dict[str, Any] = {
        "hostname": LOOPBACK,
        "port": free_port(),
        "server_hostname": "mx.test",
        # aiosmtpd only knows STARTTLS as "TLS"; implicit TLS needs auth_require_tls off.
        "auth_require_tls": spec.auth_require_tls and spec.tls != "implicit",
        "ready_timeout": 5.0,
    }
    if spec.tls != "none":
        assert pki is not None
        ctx = pki.server_context(spec.cert)
        kwargs["ssl_context" if spec.tls == "implicit" else "tls_context"] = ctx
    if spec.users is not None:
        kwargs["authenticator"] = _Authenticator(spec.users)
    controller = _Controller(recorder, _Handler(spec, recorder), **kwargs)
    controller.start()
    # Forget the controller's own start-up connection once it is gone.
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        with recorder.lock:
            if recorder.active == 0:
                break
        time.sleep(0.005)
    recorder.reset()
    return RunningServer(LOOPBACK, kwargs["port"], spec, recorder, controller)


@pytest.fixture
def smtp_server(pki: Pki) -> Iterator[Callable[[ServerSpec], RunningServer]]:
    """Factory: ``smtp_server(ServerSpec(...))`` -> a running server, stopped at teardown."""
    started: list[RunningServer] = []

    def make(spec: ServerSpec) -> RunningServer:
        server = start_server(spec, pki)
        started.append(server)
        return server

    yield make
    for server in started:
        server.controller.stop()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (kernel backlog) but never says anything."""
    sock = socket.socket()
    sock.bind((LOOPBACK, 0))
    sock.listen(8)
    yield int(sock.getsockname()[1])
    sock.close()


@pytest.fixture
def closed_port() -> int:
    """A port nobody listens on (bound, then closed)."""
    return free_port()


@pytest.fixture
def blackhole_port() -> Iterator[int]:
    """A listener with backlog 0 whose accept queue is full: new SYNs are dropped, so a
    TCP connect to it times out (Linux behaviour; loopback only)."""
    listener = socket.socket()
    listener.bind((LOOPBACK, 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers: list[socket.socket] = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect((LOOPBACK, port))
        fillers.append(filler)
    time.sleep(0.05)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


@pytest.fixture
def ca_path(pki: Pki) -> Path:
    return Path(pki.ca_file)
