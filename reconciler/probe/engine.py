"""One SMTP probe, staged like swaks, every failure turned into a classified result.

``probe()`` resolves the name itself so ``dns`` is its own stage, opens the TCP
connection itself (``connect``; both in :mod:`reconciler.probe.connection`, with the TLS
context and the EHLO name), then hands the connected socket to
aiosmtplib with ``hostname`` set to the configured name, so certificates are verified
against ``smtp.host`` (SNI + hostname check), not the resolved address.

- ``tls: implicit``: ``use_tls=True``; handshake (``tls``) then greeting (``banner``).
- ``tls: starttls``: EHLO, then ``starttls()`` called explicitly; a server that does not
  advertise STARTTLS fails with ``starttls_unavailable``. There is never a plaintext
  fallback and AUTH only happens after the upgrade (second EHLO is stage ``ehlo2``).
- ``tls: none``: no TLS; with ``auth`` the probe stops before AUTH (``insecure_auth``)
  unless the connected address is loopback.

``smtp.timeoutMs`` bounds the probe as a whole (every stage gets what is left). There are
no retries inside a probe: a 4xx is a ``temporary`` result (re-probing is the daemon's
schedule). After a failure the probe still says ``QUIT`` while the connection is in a
sane SMTP state (bounded, best effort), so servers do not log a lost connection.

The EHLO name is the scope's ``probe.ehloName``, else the ``ehlo_name`` argument, else
the process default (``--ehlo-name``), else this machine's FQDN, else (no dotted name
known) the address literal of the local end of the connection (``[127.0.0.1]``, RFC 5321
§4.1.4). Addresses go out with A-label
domains; SMTPUTF8 is used when a local part needs it and the server offers it.
The password (and its base64 forms) is redacted from every message. ``smtp.domain`` is
not sent: SMTP AUTH PLAIN/LOGIN/CRAM-MD5 have no domain field (it only matters to
Windows/NTLM clients); it is part of the dedupe key.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiosmtplib
from aiosmtplib import SMTPResponse

from reconciler.clock import utc_now_ms
from reconciler.model import Effective
from reconciler.probe import classify as C
from reconciler.probe import oauth2
from reconciler.probe.classes import CA_FILE_UNREADABLE
from reconciler.probe.classes import FailureClass as F
from reconciler.probe.connection import (
    address_literal,
    connect,
    credentials_allowed,
    default_ehlo_name,
    ehlo_name_for,
    resolve,
    set_default_ehlo_name,
    tls_context,
)
from reconciler.probe.message import AddressError, build_message, envelope_for
from reconciler.probe.result import (
    ProbeResult,
    endpoint_label,
    internal_error_result,
    new_probe_id,
    secret_unresolved_result,
)
from reconciler.redact import Redactor

__all__ = [
    "build_message",
    "credentials_allowed",
    "default_ehlo_name",
    "ehlo_name_for",
    "internal_error_result",
    "probe",
    "secret_unresolved_result",
    "set_default_ehlo_name",
    "tls_context",
]

T = TypeVar("T")

_CLOSE_GRACE_S = 0.5
_QUIT_BUDGET_S = 2.0
# After these the connection is in no state for a polite QUIT (or there is none).
_NO_QUIT = frozenset({F.TIMEOUT, F.CONNECTION_CLOSED, F.TLS_HANDSHAKE, F.TLS_CERTIFICATE})


class _SMTP(aiosmtplib.SMTP):
    """aiosmtplib's client, telling when its connection is really gone (the socket is
    closed in the same callback), so :meth:`_Attempt.close` awaits that instead of
    polling the socket with sleeps."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mailctl_lost = asyncio.Event()

    def _on_connection_lost(self, protocol: Any) -> None:
        self.mailctl_lost.set()
        super()._on_connection_lost(protocol)

    async def envelope(
        self, verb: str, address: str, options: list[str], encoding: str, timeout: float | None
    ) -> SMTPResponse:
        """``MAIL FROM`` / ``RCPT TO`` without aiosmtplib's re-parsing of the address
        through ``email.utils`` (two parses per probe): envelope addresses are already
        checked, bare and A-label encoded (``message.envelope_for``). Same errors."""
        arg = (b"FROM:<" if verb == "MAIL" else b"TO:<") + address.encode(encoding) + b">"
        extra = [option.encode("ascii") for option in options]
        response = await self.execute_command(verb.encode(), arg, *extra, timeout=timeout)
        if verb == "MAIL" and response.code != 250:
            raise aiosmtplib.SMTPSenderRefused(response.code, response.message, address)
        if verb == "RCPT" and response.code not in (250, 251):
            raise aiosmtplib.SMTPRecipientRefused(response.code, response.message, address)
        return response


class _Attempt:
    """One connection attempt; records stage and per-stage latency."""

    def __init__(
        self,
        settings: Effective,
        password: str | None,
        ca_file: str | None,
        ehlo_name: str | None,
    ) -> None:
        self.settings = settings
        self.password = password
        self.ca_file = ca_file
        self.ehlo_name = ehlo_name
        self.stage = "dns"
        self.latency: dict[str, float] = {}
        self.code: int | None = None
        self.text = ""
        self.sent = False
        self._deadline = time.monotonic() + settings.smtp.timeout_ms / 1000.0
        self._sock: socket.socket | None = None
        self._smtp: _SMTP | None = None
        self._transport: asyncio.BaseTransport | None = None

    def remaining(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise C.Failure(F.TIMEOUT, f"no time left for {self.stage} (smtp.timeoutMs)")
        return left

    async def step(self, stage: str, make: Callable[[float | None], Awaitable[T]]) -> T:
        """Run one stage. SMTP commands get no timeout of their own (``None``): the probe's
        deadline is one ``asyncio.timeout_at`` around the conversation, which costs no
        extra future, timer and event-loop round per command (``wait_for`` did)."""
        self.stage = stage
        started = time.perf_counter()
        self._remember_transport()
        self.remaining()
        try:
            return await make(None)
        finally:
            self.latency[stage] = round((time.perf_counter() - started) * 1000.0, 3)

    def _remember_transport(self) -> None:
        if self._smtp is not None and self._smtp.transport is not None:
            self._transport = self._smtp.transport

    def _reply(self, response: SMTPResponse) -> None:
        self.code, self.text = response.code, response.message

    # -- stages ----------------------------------------------------------------------

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
                    F.TLS_CERTIFICATE,
                    f"cannot load --ca-file {self.ca_file}: {exc}",
                    verify_code=CA_FILE_UNREADABLE,
                ) from None
        infos = await self.step("dns", lambda _t: resolve(s.host, s.port, self.remaining()))
        sock = await self.step("connect", lambda _t: connect(infos, self.remaining()))
        self._sock = sock
        peer = str(sock.getpeername()[0])
        smtp = _SMTP(
            hostname=s.host,
            sock=sock,
            use_tls=implicit,
            start_tls=False,
            tls_context=ctx if implicit else None,
            local_hostname=ehlo_name_for(self.settings, self.ehlo_name) or address_literal(sock),
            timeout=self.remaining(),
        )
        self._smtp = smtp
        await self._greet(smtp, implicit)
        await self.step("ehlo", lambda t: self._ehlo(smtp, t))
        if s.tls == "starttls":
            assert ctx is not None
            if not smtp.supports_extension("starttls"):
                self.stage = "starttls"
                raise C.Failure(F.STARTTLS_UNAVAILABLE, "server does not offer STARTTLS")
            await self.step(
                "starttls",
                lambda t: smtp.starttls(tls_context=ctx, server_hostname=s.host, timeout=t),
            )
            await self.step("ehlo2", lambda t: self._ehlo(smtp, t))
        if s.auth is not None:
            self.stage = "auth"
            encrypted = smtp.get_transport_info("sslcontext") is not None
            if not credentials_allowed(encrypted=encrypted, peer=peer):
                raise C.Failure(F.INSECURE_AUTH, "refusing AUTH over an unencrypted connection")
            offers_auth = smtp.supports_extension("auth")
            if not encrypted and not offers_auth and smtp.supports_extension("starttls"):
                raise C.Failure(F.TLS_REQUIRED, "server offers AUTH only after STARTTLS")
            await self.step(
                "auth", lambda t: self._auth(smtp, s.auth.username if s.auth else "", t)
            )
        self.stage = "mail_from"
        try:
            env = envelope_for(self.settings)
        except AddressError as exc:
            raise C.Failure(F.SENDER_REJECTED, str(exc)) from None
        options: list[str] = []
        encoding = "ascii"
        if env.smtputf8:
            if not smtp.supports_extension("smtputf8"):
                raise C.Failure(
                    F.SMTPUTF8_UNSUPPORTED,
                    "an address needs SMTPUTF8 (non-ASCII local part); the server does not "
                    "offer it",
                )
            options, encoding = ["SMTPUTF8"], "utf-8"
        self._reply(
            await self.step(
                "mail_from",
                lambda t: smtp.envelope("MAIL", env.sender, options, encoding, t),
            )
        )
        to = env.recipient
        if not to:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, C.Failure):
                await self.step("quit", lambda t: self._rset_quit(smtp, t))
            self.stage = "quit"
            return "no probe.to: stopped after MAIL FROM"
        self._reply(await self.step("rcpt", lambda t: smtp.envelope("RCPT", to, [], encoding, t)))
        message = build_message(self.settings, scope_label, probe_id, env)
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

    async def _ehlo(self, smtp: aiosmtplib.SMTP, timeout: float | None) -> SMTPResponse:
        response = await smtp.ehlo(timeout=timeout)
        self._reply(response)
        return response

    async def _auth(self, smtp: aiosmtplib.SMTP, username: str, timeout: float | None) -> None:
        if not smtp.supports_extension("auth"):
            raise C.Failure(F.AUTH_UNAVAILABLE, "server does not offer AUTH")
        auth = self.settings.smtp.auth
        if auth is not None and auth.oauth2 is not None:
            # The token request is HTTP, outside the SMTP conversation: it gets what is
            # left of the probe's deadline as its own bound.
            budget = timeout if timeout is not None else self.remaining()
            self._reply(await oauth2.login(smtp, auth, self.password or "", self.ca_file, budget))
            return
        methods = smtp.supported_auth_methods
        if not methods:
            offered = " ".join(sorted(smtp.server_auth_methods)).upper() or "none"
            raise C.Failure(
                F.AUTH_UNAVAILABLE, f"no supported AUTH mechanism (server offers {offered})"
            )
        handlers = {
            "cram-md5": smtp.auth_crammd5,
            "plain": smtp.auth_plain,
            "login": smtp.auth_login,
        }
        self._reply(await handlers[methods[0]](username, self.password or "", timeout=timeout))

    async def _rset_quit(self, smtp: aiosmtplib.SMTP, timeout: float | None) -> None:
        await smtp.rset(timeout=timeout)
        await smtp.quit(timeout=timeout)

    async def quit_after_failure(self, failure: C.Failure) -> bool:
        """Say QUIT (bounded, best effort) when the connection is still a sane SMTP one.

        True when the server answered it (the connection can close gracefully)."""
        smtp = self._smtp
        if smtp is None or not smtp.is_connected or failure.failure_class in _NO_QUIT:
            return False
        budget = min(_QUIT_BUDGET_S, max(0.0, self._deadline - time.monotonic()))
        if budget <= 0:
            return False
        try:
            await asyncio.wait_for(smtp.quit(timeout=budget), budget)
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            return False
        return True

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
        if sock.fileno() != -1 and smtp is not None and transport is not None:
            # The transport closes the socket right after telling the protocol.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_CLOSE_GRACE_S):
                    await smtp.mailctl_lost.wait()
        if sock.fileno() != -1:
            if isinstance(transport, asyncio.Transport):
                transport.abort()
                await asyncio.sleep(0)
            sock.close()


async def probe(
    settings: Effective,
    password: str | None,
    *,
    scope_label: str,
    ca_file: str | None = None,
    probe_id: str | None = None,
    ehlo_name: str | None = None,
) -> ProbeResult:
    """Probe one effective configuration, once. Never raises for network or server problems.

    ``ehlo_name``: the name to announce when the scope sets no ``probe.ehloName`` (it
    takes precedence over ``set_default_ehlo_name``); see ``ehlo_name_for``."""
    probe_id = probe_id or new_probe_id()
    at = utc_now_ms()
    smtp_settings = settings.smtp
    redact = Redactor([password])
    endpoint = endpoint_label(settings)
    attempt = _Attempt(settings, password, ca_file, ehlo_name)
    failure: C.Failure | None = None
    deadline = asyncio.get_running_loop().time() + smtp_settings.timeout_ms / 1000.0
    try:
        async with asyncio.timeout_at(deadline):
            note = await attempt.run(scope_label, probe_id)
    except asyncio.CancelledError:
        await attempt.close(graceful=False)
        raise
    except Exception as exc:
        failure = C.classify_exception(exc, attempt.stage)
    graceful = failure is None or await attempt.quit_after_failure(failure)
    await attempt.close(graceful=graceful)
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
        )
    return ProbeResult(
        status="failed",
        stage=attempt.stage,
        failure_class=str(failure.failure_class),
        code=failure.code,
        message=C.clean(failure.message, redact),
        hint=C.hint_for(
            failure.failure_class,
            stage=attempt.stage,
            endpoint=endpoint,
            port=smtp_settings.port,
            enhanced=failure.enhanced,
            verify_code=failure.verify_code,
        ),
        latency_ms=attempt.latency,
        probe_id=probe_id,
        at=at,
        endpoint=endpoint,
        sent=attempt.sent,
    )
