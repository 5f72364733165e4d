"""A local SMTP sink for development, tests and the demo (``mailctl sink``).

An aiosmtpd ``Controller`` (own thread and event loop) that accepts mail, stores every
message in a Maildir and prints one summary line per message on stdout::

    received from=notify@example.com to=probe@example.com \
        subject="mailctl probe host 1a2b" probe=1a2b auth=demo   (one line)

TLS: ``none``, ``starttls`` or ``implicit``. Without ``cert_file``/``key_file`` a throwaway
CA and a server certificate for ``localhost``, ``127.0.0.1``, ``::1`` (and the listen
host) are generated; the CA certificate is written to ``ca_out`` so probes can trust it
with ``--ca-file``. AUTH (PLAIN, LOGIN) is offered only when users are configured;
passwords come from environment variables, never from the command line. With
``require_auth`` MAIL FROM is refused (530) until the client authenticated.

Use it in-process with ``with Sink(config) as sink: ...`` or block with ``run_sink()``
until SIGTERM/SIGINT (returns 0).
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import logging
import mailbox
import os
import signal
import socket
import ssl
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Literal, TextIO

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from reconciler.devtools import DEFAULT_CA_OUT, DEFAULT_MAILDIR
from reconciler.errors import MailctlError
from reconciler.net import is_loopback

SinkTls = Literal["none", "starttls", "implicit"]


class SinkError(MailctlError):
    stage = "sink"


@dataclass(frozen=True, slots=True)
class SinkUser:
    name: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class SinkConfig:
    host: str = "127.0.0.1"
    port: int = 2525
    tls: SinkTls = "none"
    cert_file: str | None = None
    key_file: str | None = None
    ca_out: str | None = None
    users: tuple[SinkUser, ...] = ()
    require_auth: bool = False
    maildir: str = DEFAULT_MAILDIR
    server_name: str = "mailctl-sink"


def parse_user(spec: str, environ: Mapping[str, str] | None = None) -> SinkUser:
    """``NAME:ENVVAR`` -> user NAME with the password read from $ENVVAR."""
    env = os.environ if environ is None else environ
    name, sep, var = spec.partition(":")
    if not sep or not name or not var:
        raise SinkError(
            f"--user {spec!r} must be NAME:ENVVAR",
            hint="the password is read from the environment variable, e.g. "
            "--user demo:DEMO_SMTP_PASSWORD",
        )
    password = env.get(var)
    if not password:
        raise SinkError(
            f"--user {name}: environment variable {var} is not set or empty",
            hint=f"export {var}=... before starting the sink",
        )
    return SinkUser(name, password)


def generate_certificate(ca_out: str | Path, names: tuple[str, ...]) -> tuple[str, str]:
    """A throwaway CA (written to ``ca_out``) and a server cert/key for ``names``.

    Returns (cert_chain_path, key_path) in a private temporary directory.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailctl sink local CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_path = Path(ca_out)
    ca_path.parent.mkdir(parents=True, exist_ok=True)
    ca_path.write_bytes(ca_cert.public_bytes(pem))
    workdir = Path(tempfile.mkdtemp(prefix="mailctl-sink-"))
    cert_path, key_path = workdir / "cert.pem", workdir / "key.pem"
    cert_path.write_bytes(cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
    return str(cert_path), str(key_path)


def summary_line(envelope: Envelope, session: Session) -> str:
    """One line per message: from, to, subject, X-Mailctl-Probe (and the AUTH user)."""
    content = envelope.original_content or b""
    headers = BytesHeaderParser(policy=default_policy).parsebytes(content)
    subject = " ".join(str(headers.get("Subject", "")).split())
    probe = str(headers.get("X-Mailctl-Probe", "")).strip() or "-"
    user = session.auth_data if session.authenticated and session.auth_data else "-"
    rcpts = ",".join(envelope.rcpt_tos)
    return (
        f"received from={envelope.mail_from} to={rcpts} "
        f'subject="{subject}" probe={probe} auth={user}'
    )


class _QuietDeprecations(logging.Filter):
    """aiosmtpd logs "Session.login_data is deprecated" for every AUTH it handles itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


def quiet_aiosmtpd_log() -> None:
    logger = logging.getLogger("mail.log")
    if not any(isinstance(f, _QuietDeprecations) for f in logger.filters):
        logger.addFilter(_QuietDeprecations())


class _SinkHandler:
    def __init__(self, config: SinkConfig, out: TextIO) -> None:
        self.config = config
        self.out = out
        self.lock = threading.Lock()
        self.maildir = mailbox.Maildir(config.maildir, create=True)
        self.count = 0

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if not self.config.users:
            responses = [r for r in responses if not r[4:].upper().startswith("AUTH")]
        return responses

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        if self.config.require_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        line = summary_line(envelope, session)
        with self.lock:
            key = self.maildir.add(content)
            self.count += 1
            print(line, file=self.out, flush=True)
        return f"250 2.0.0 OK stored {key}"


class _Authenticator:
    def __init__(self, users: tuple[SinkUser, ...]) -> None:
        self.users = {u.name: u.password.encode("utf-8") for u in users}

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            name = data.login.decode("utf-8", "replace")
            expected = self.users.get(name)
            if expected is not None and hmac.compare_digest(expected, data.password):
                return AuthResult(success=True, auth_data=name)
        return AuthResult(success=False, handled=False)


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Sink:
    """The sink server; a context manager (``start()`` / ``stop()``)."""

    def __init__(self, config: SinkConfig, *, out: TextIO | None = None) -> None:
        if config.require_auth and not config.users:
            raise SinkError("--require-auth needs at least one --user NAME:ENVVAR")
        if config.users and config.tls == "none" and not is_loopback(config.host):
            raise SinkError(
                "refusing to accept credentials without TLS on a non-loopback address",
                hint="use --tls starttls or --tls implicit, or listen on 127.0.0.1",
            )
        if (config.cert_file is None) != (config.key_file is None):
            raise SinkError("--cert and --key go together")
        self.config = config
        self.port = config.port or _free_port(config.host)
        self.ca_file: str | None = None
        self._handler = _SinkHandler(config, out or sys.stdout)
        self._controller: Controller | None = None

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def received(self) -> int:
        return self._handler.count

    def _tls_context(self) -> ssl.SSLContext | None:
        cfg = self.config
        if cfg.tls == "none":
            return None
        cert, key = cfg.cert_file, cfg.key_file
        if cert is None or key is None:
            self.ca_file = str(Path(cfg.ca_out or DEFAULT_CA_OUT).resolve())
            names = ("localhost", "127.0.0.1", "::1", cfg.host)
            cert, key = generate_certificate(self.ca_file, names)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            ctx.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise SinkError(f"cannot load --cert/--key: {exc}") from exc
        finally:
            if cfg.cert_file is None:  # generated: the key never outlives the load
                for path in (cert, key):
                    Path(path).unlink(missing_ok=True)
                Path(key).parent.rmdir()
        return ctx

    def start(self) -> Sink:
        cfg = self.config
        ctx = self._tls_context()
        kwargs: dict[str, Any] = {
            "hostname": cfg.host,
            "port": self.port,
            "server_hostname": cfg.server_name,
            "ready_timeout": 5.0,
            # aiosmtpd treats only STARTTLS as TLS; implicit TLS and plaintext loopback
            # need this off for AUTH to be offered at all.
            "auth_require_tls": cfg.tls == "starttls",
        }
        if ctx is not None:
            kwargs["ssl_context" if cfg.tls == "implicit" else "tls_context"] = ctx
        if cfg.users:
            kwargs["authenticator"] = _Authenticator(cfg.users)
        quiet_aiosmtpd_log()
        controller = Controller(self._handler, **kwargs)
        try:
            controller.start()
        except Exception as exc:
            raise SinkError(f"cannot listen on {cfg.host}:{self.port}: {exc}") from exc
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_sink(config: SinkConfig, *, out: TextIO | None = None) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit code (0)."""
    stream = out or sys.stdout
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, _on_signal)
    sink = Sink(config, out=stream)
    try:
        with sink:
            cfg = sink.config
            listen = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
            line = (
                f"mailctl sink listening on {listen}:{sink.port} "
                f"tls={cfg.tls} maildir={cfg.maildir}"
            )
            if sink.ca_file:
                line += f" ca={sink.ca_file}"
            print(line, file=stream, flush=True)
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"mailctl sink stopped ({sink.received} messages)", file=stream, flush=True)
    return 0
