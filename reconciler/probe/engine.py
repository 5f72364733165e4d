"""One SMTP probe, staged like swaks, every failure turned into a classified result.

``probe()`` resolves the name itself (``loop.getaddrinfo``) so ``dns`` is its own stage,
opens the TCP connection itself (``connect``), then hands the connected socket to
aiosmtplib with ``hostname`` set to the configured name, so certificates are verified
against ``smtp.host`` (SNI + hostname check), not the resolved address.

- ``tls: implicit``: ``use_tls=True``; handshake (``tls``) then greeting (``banner``).
- ``tls: starttls``: EHLO, then ``starttls()`` called explicitly; a server that does not
  advertise STARTTLS fails with ``starttls_unavailable``. There is never a plaintext
  fallback and AUTH only happens after the upgrade (second EHLO is stage ``ehlo2``).
- ``tls: none``: no TLS; with ``auth`` the probe stops before AUTH (``insecure_auth``)
  unless the connected address is loopback.

``smtp.timeoutMs`` bounds each attempt as a whole (every stage gets what is left). 4xx
replies are retried on a fresh connection with jittered, bounded exponential backoff.
The password (and its base64 forms) is redacted from every message. ``smtp.domain`` is
not sent: SMTP AUTH PLAIN/LOGIN/CRAM-MD5 have no domain field (it only matters to
Windows/NTLM clients); it is part of the dedupe key.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import ipaddress
import os
import random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiosmtplib
from aiosmtplib import SMTPResponse

from reconciler.model import Effective
from reconciler.probe import classify as C
from reconciler.probe.message import build_message
from reconciler.probe.result import (
    ProbeResult,
    endpoint_label,
    internal_error_result,
    new_probe_id,
    secret_unresolved_result,
    utc_now,
)
from reconciler.redact import Redactor

__all__ = [
    "build_message",
    "credentials_allowed",
    "internal_error_result",
    "probe",
    "secret_unresolved_result",
    "tls_context",
]

T = TypeVar("T")

MAX_BACKOFF_S = 10.0
_CLOSE_GRACE_S = 0.5


class _TimedSSLObject(ssl.SSLObject):
    """Records when the TLS handshake completed, to split ``tls`` from ``banner``."""

    mailctl_handshake_done: float | None = None

    def do_handshake(self) -> None:
        super().do_handshake()
        self.mailctl_handshake_done = time.perf_counter()


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """System trust store plus ``ca_file``; hostname checking on; TLS 1.2 minimum.

    Cached per (path, mtime, size), so a rewritten CA file is picked up."""
    if not ca_file:
        return _tls_context(None, 0, 0)
    st = os.stat(ca_file)
    return _tls_context(ca_file, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=16)
def _tls_context(ca_file: str | None, mtime_ns: int, size: int) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file:
        ctx.load_verify_locations(cafile=ca_file)
    ctx.sslobject_class = _TimedSSLObject
    return ctx


@functools.lru_cache(maxsize=1)
def _local_hostname() -> str:
    name = socket.gethostname().strip()
    if not name or any(ch.isspace() or ord(ch) < 33 for ch in name):
        return "localhost"
    return name


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def credentials_allowed(*, encrypted: bool, peer: str) -> bool:
    """Credentials go only over TLS, or in clear to a loopback address."""
    if encrypted:
        return True
    try:
        return ipaddress.ip_address(peer.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class _Attempt:
    """One connection attempt; records stage and per-stage latency."""

    def __init__(self, settings: Effective, password: str | None, ca_file: str | None) -> None:
        self.settings = settings
        self.password = password
        self.ca_file = ca_file
        self.stage = "dns"
        self.latency: dict[str, float] = {}
        self.code: int | None = None
        self.text = ""
        self.sent = False
        self._deadline = time.monotonic() + settings.smtp.timeout_ms / 1000.0
        self._sock: socket.socket | None = None
        self._smtp: aiosmtplib.SMTP | None = None
        self._transport: asyncio.BaseTransport | None = None

    def remaining(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise C.Failure(C.TIMEOUT, f"no time left for {self.stage} (smtp.timeoutMs)")
        return left

    async def step(self, stage: str, make: Callable[[float], Awaitable[T]]) -> T:
        self.stage = stage
        started = time.perf_counter()
        self._remember_transport()
        try:
            return await make(self.remaining())
        finally:
            self.latency[stage] = round((time.perf_counter() - started) * 1000.0, 3)

    def _remember_transport(self) -> None:
        if self._smtp is not None and self._smtp.transport is not None:
            self._transport = self._smtp.transport

    def _reply(self, response: SMTPResponse) -> None:
        self.code, self.text = response.code, response.message

    # -- stages ----------------------------------------------------------------------

    async def _resolve(self, timeout: float) -> list[tuple[Any, ...]]:
        host, port = self.settings.smtp.host, self.settings.smtp.port
        if _is_ip(host):
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port))]
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
            )
        except TimeoutError:
            raise C.Failure(C.DNS, f"resolving {host} timed out") from None
        except (socket.gaierror, UnicodeError, OSError) as exc:
            raise C.Failure(C.DNS, f"cannot resolve {host}: {exc}") from None
        if not infos:
            raise C.Failure(C.DNS, f"{host} has no address")
        return [tuple(info) for info in infos]

    async def _connect(self, infos: list[tuple[Any, ...]], timeout: float) -> socket.socket:
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + timeout
        last: C.Failure | None = None
        for family, kind, proto, _canon, address in infos:
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            try:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                await asyncio.wait_for(loop.sock_connect(sock, address), left)
            except TimeoutError:
                sock.close()
                last = C.Failure(C.CONNECT_TIMEOUT, f"TCP connect to {address[0]} timed out")
                break
            except OSError as exc:
                sock.close()
                cls = C.CONNECT_REFUSED
                if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
                    cls = C.CONNECT_UNREACHABLE
                last = C.Failure(cls, f"TCP connect to {address[0]}: {exc.strerror or exc}")
                continue
            except BaseException:
                sock.close()
                raise
            return sock
        assert last is not None
        raise last

    # -- the whole conversation ------------------------------------------------------

    async def run(self, scope_label: str, probe_id: str) -> str:
        """Returns the success message; raises ``C.Failure`` or library errors."""
        s = self.settings.smtp
        implicit = s.tls == "implicit"
        ctx: ssl.SSLContext | None = None
        if s.tls != "none":
            try:
                ctx = tls_context(self.ca_file)
            except (OSError, ssl.SSLError, ValueError) as exc:
                self.stage = "tls" if implicit else "starttls"
                raise C.Failure(
                    C.TLS_CERTIFICATE,
                    f"cannot load --ca-file {self.ca_file}: {exc}",
                    verify_code=C.CA_FILE_UNREADABLE,
                ) from None
        infos = await self.step("dns", self._resolve)
        sock = await self.step("connect", lambda t: self._connect(infos, t))
        self._sock = sock
        peer = str(sock.getpeername()[0])
        smtp = aiosmtplib.SMTP(
            hostname=s.host,
            sock=sock,
            use_tls=implicit,
            start_tls=False,
            tls_context=ctx if implicit else None,
            local_hostname=_local_hostname(),
            timeout=self.remaining(),
        )
        self._smtp = smtp
        await self._greet(smtp, implicit)
        await self.step("ehlo", lambda t: self._ehlo(smtp, t))
        if s.tls == "starttls":
            assert ctx is not None
            if not smtp.supports_extension("starttls"):
                self.stage = "starttls"
                raise C.Failure(C.STARTTLS_UNAVAILABLE, "server does not offer STARTTLS")
            await self.step(
                "starttls",
                lambda t: smtp.starttls(tls_context=ctx, server_hostname=s.host, timeout=t),
            )
            await self.step("ehlo2", lambda t: self._ehlo(smtp, t))
        if s.auth is not None:
            self.stage = "auth"
            encrypted = smtp.get_transport_info("sslcontext") is not None
            if not credentials_allowed(encrypted=encrypted, peer=peer):
                raise C.Failure(C.INSECURE_AUTH, "refusing AUTH over an unencrypted connection")
            await self.step(
                "auth", lambda t: self._auth(smtp, s.auth.username if s.auth else "", t)
            )
        sender = self.settings.sender.address
        self._reply(await self.step("mail_from", lambda t: smtp.mail(sender, timeout=t)))
        to = self.settings.probe_to
        if not to:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, C.Failure):
                await self.step("quit", lambda t: self._rset_quit(smtp, t))
            self.stage = "quit"
            return "no probe.to: stopped after MAIL FROM"
        self._reply(await self.step("rcpt", lambda t: smtp.rcpt(to, timeout=t)))
        message = build_message(self.settings, scope_label, probe_id)
        self._reply(await self.step("data", lambda t: smtp.data(message, timeout=t)))
        self.sent = True
        with contextlib.suppress(aiosmtplib.SMTPException, OSError, C.Failure):
            await self.step("quit", lambda t: smtp.quit(timeout=t))
        self.stage = "quit"
        return f"test message sent to {to}"

    async def _greet(self, smtp: aiosmtplib.SMTP, implicit: bool) -> None:
        self.stage = "tls" if implicit else "banner"
        started = time.perf_counter()
        try:
            response = await smtp.connect(timeout=self.remaining())
        except aiosmtplib.SMTPConnectTimeoutError as exc:
            # Handshake timeouts come from asyncio (TimeoutError); greeting timeouts
            # from the protocol's read (SMTPTimeoutError).
            if isinstance(exc.__cause__, aiosmtplib.SMTPTimeoutError) or not implicit:
                self.stage = "banner"
            raise
        except aiosmtplib.SMTPConnectResponseError:
            self.stage = "banner"
            raise
        except aiosmtplib.SMTPConnectError as exc:
            if isinstance(exc.__cause__, aiosmtplib.SMTPServerDisconnected) or not implicit:
                self.stage = "banner"
            raise
        finally:
            done = time.perf_counter()
            handshake = self._handshake_time(smtp)
            if implicit and handshake is not None:
                self.latency["tls"] = round((handshake - started) * 1000.0, 3)
                self.latency["banner"] = round((done - handshake) * 1000.0, 3)
            else:
                self.latency[self.stage] = round((done - started) * 1000.0, 3)
        self.stage = "banner"
        self._reply(response)

    @staticmethod
    def _handshake_time(smtp: aiosmtplib.SMTP) -> float | None:
        if smtp.transport is None:
            return None
        obj = smtp.transport.get_extra_info("ssl_object")
        return getattr(obj, "mailctl_handshake_done", None)

    async def _ehlo(self, smtp: aiosmtplib.SMTP, timeout: float) -> SMTPResponse:
        response = await smtp.ehlo(timeout=timeout)
        self._reply(response)
        return response

    async def _auth(self, smtp: aiosmtplib.SMTP, username: str, timeout: float) -> None:
        if not smtp.supports_extension("auth"):
            raise C.Failure(C.AUTH_UNAVAILABLE, "server does not offer AUTH")
        methods = smtp.supported_auth_methods
        if not methods:
            offered = " ".join(sorted(smtp.server_auth_methods)).upper() or "none"
            raise C.Failure(
                C.AUTH_UNAVAILABLE, f"no supported AUTH mechanism (server offers {offered})"
            )
        handlers = {
            "cram-md5": smtp.auth_crammd5,
            "plain": smtp.auth_plain,
            "login": smtp.auth_login,
        }
        self._reply(await handlers[methods[0]](username, self.password or "", timeout=timeout))

    async def _rset_quit(self, smtp: aiosmtplib.SMTP, timeout: float) -> None:
        await smtp.rset(timeout=timeout)
        await smtp.quit(timeout=timeout)

    async def close(self, graceful: bool) -> None:
        """Close the connection and wait (bounded) until the socket is really closed."""
        self._remember_transport()
        smtp, sock, transport = self._smtp, self._sock, self._transport
        if transport is not None:
            if not graceful and isinstance(transport, asyncio.Transport):
                transport.abort()
            elif not transport.is_closing():
                transport.close()
        if smtp is not None:
            smtp.close()
        if sock is None:
            return
        waited = 0.0
        while sock.fileno() != -1 and waited < _CLOSE_GRACE_S:
            await asyncio.sleep(0.005 if waited else 0)
            waited += 0.005
        if sock.fileno() != -1:
            if isinstance(transport, asyncio.Transport):
                transport.abort()
                await asyncio.sleep(0)
            sock.close()


def _backoff(attempt: int, base: float) -> float:
    """Exponential backoff with ±50% jitter, capped at ``MAX_BACKOFF_S``."""
    return min(MAX_BACKOFF_S, base * (2.0**attempt) * random.uniform(0.5, 1.5))


async def probe(
    settings: Effective,
    password: str | None,
    *,
    scope_label: str,
    ca_file: str | None = None,
    probe_id: str | None = None,
    retries: int = 3,
    backoff_base_s: float = 0.5,
) -> ProbeResult:
    """Probe one effective configuration. Never raises for network or server problems."""
    probe_id = probe_id or new_probe_id()
    at = utc_now()
    smtp_settings = settings.smtp
    redact = Redactor([password])
    endpoint = endpoint_label(settings)
    attempts = 0
    while True:
        attempts += 1
        attempt = _Attempt(settings, password, ca_file)
        failure: C.Failure | None = None
        try:
            note = await attempt.run(scope_label, probe_id)
        except asyncio.CancelledError:
            await attempt.close(graceful=False)
            raise
        except Exception as exc:
            failure = C.classify_exception(exc, attempt.stage)
        await attempt.close(graceful=failure is None)
        if failure is None:
            server = f" ({attempt.code} {attempt.text})" if attempt.code else ""
            return ProbeResult(
                status="passed",
                stage="quit",
                failure_class=None,
                code=attempt.code,
                message=C.clean(note + server, redact),
                hint=None,
                latency_ms=attempt.latency,
                probe_id=probe_id,
                at=at,
                endpoint=endpoint,
                sent=attempt.sent,
                attempts=attempts,
            )
        if failure.failure_class == C.TEMPORARY and attempts <= retries:
            await asyncio.sleep(_backoff(attempts - 1, backoff_base_s))
            continue
        message = failure.message
        if attempts > 1:
            message = f"{message} (after {attempts} attempts)"
        return ProbeResult(
            status="failed",
            stage=attempt.stage,
            failure_class=failure.failure_class,
            code=failure.code,
            message=C.clean(message, redact),
            hint=C.hint_for(
                failure.failure_class,
                stage=attempt.stage,
                endpoint=endpoint,
                port=smtp_settings.port,
                code=failure.code,
                verify_code=failure.verify_code,
            ),
            latency_ms=attempt.latency,
            probe_id=probe_id,
            at=at,
            endpoint=endpoint,
            sent=attempt.sent,
            attempts=attempts,
        )
