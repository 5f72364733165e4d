"""OAuth2 access tokens for SMTP SASL XOAUTH2 (DESIGN §11), e.g. Office 365.

Tokens come from the client-credentials grant (RFC 6749 §4.4): ``POST tokenUrl`` with
``grant_type=client_credentials``, ``client_id``, ``client_secret`` and ``scope`` as a form;
the answer is ``{"access_token", "token_type": "Bearer", "expires_in"}`` or, on failure,
``{"error", "error_description"}`` (RFC 6749 §5.2; Microsoft identity platform adds
``error_codes``, ``trace_id``, ``correlation_id``).

``TokenCache`` keeps each token until 60 s before it expires, keyed by (tokenUrl,
clientId, scope) plus a keyed hash of the client secret, so every scope using one client
shares one token, and a manifest naming another tenant's client id with a wrong secret
never gets that tenant's token. Concurrent requests for one key share one fetch. Tokens
live only in memory: never stored, logged or printed (each is added to the process-wide
``REDACTOR`` when fetched, so no output, log or stored message can carry it).

``xoauth2`` sends ``AUTH XOAUTH2 <base64("user=" + user + "\\x01auth=Bearer " + token +
"\\x01\\x01")>``; a server that answers ``334`` with an error challenge (Gmail style) gets
the empty line the mechanism requires and then sends the final ``5xx``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiosmtplib
from aiosmtplib import SMTPResponse

from reconciler.model import Auth, OAuth2
from reconciler.probe import classify as C
from reconciler.probe.classes import FailureClass as F
from reconciler.redact import REDACTOR

OAUTH2_TOKEN = F.OAUTH2_TOKEN

REFRESH_MARGIN_S = 60.0
MAX_RESPONSE_BYTES = 64 * 1024
_KEY = secrets.token_bytes(32)


class TokenError(Exception):
    """The token endpoint refused or could not be reached; ``error`` as RFC 6749 §5.2."""

    def __init__(self, error: str, description: str = "", status: int | None = None) -> None:
        self.error = error
        self.description = description
        self.status = status
        text = f"token endpoint: {error}"
        if status is not None:
            text = f"token endpoint HTTP {status}: {error}"
        super().__init__(f"{text}: {description}" if description else text)


@dataclass(frozen=True, slots=True)
class Token:
    value: str = field(repr=False)
    expires_at: float  # on the cache's clock


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A token endpoint that redirects is misconfigured: never re-send the secret."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _opener(context: ssl.SSLContext | None) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _NoRedirect())


def _error_from_body(body: bytes, status: int | None) -> TokenError:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        desc = data.get("error_description")
        return TokenError(data["error"], str(desc) if desc else "", status)
    return TokenError("invalid_response", "the answer is not an OAuth2 error object", status)


def fetch_token(
    oauth: OAuth2, client_secret: str, *, context: ssl.SSLContext | None, timeout: float
) -> tuple[str, float]:
    """One client-credentials request (blocking): ``(access_token, expires_in seconds)``."""
    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": oauth.client_id,
            "client_secret": client_secret,
            "scope": oauth.scope,
        }
    ).encode("ascii")
    request = urllib.request.Request(
        oauth.token_url,
        data=form,
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            "User-Agent": "mailctl",
        },
    )
    try:
        with _opener(context).open(request, timeout=timeout) as response:
            body = response.read(MAX_RESPONSE_BYTES)
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        with exc:
            raise _error_from_body(exc.read(MAX_RESPONSE_BYTES), exc.code) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            text = f"certificate verify failed: {reason.verify_message or reason.reason}"
        else:
            text = str(getattr(reason, "strerror", None) or reason)
        raise TokenError("unreachable", text) from None
    except (TimeoutError, OSError) as exc:
        raise TokenError("unreachable", str(exc) or type(exc).__name__) from None
    except ValueError as exc:  # a URL urllib cannot use
        raise TokenError("invalid_request", f"bad tokenUrl: {exc}") from None
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise TokenError("invalid_response", "the answer is not JSON", status)
    token, kind = data.get("access_token"), str(data.get("token_type", "Bearer"))
    if not isinstance(token, str) or not token or kind.lower() != "bearer":
        raise TokenError("invalid_response", "no Bearer access_token in the answer", status)
    try:
        expires_in = float(data.get("expires_in", 3600))
    except (TypeError, ValueError):
        raise TokenError("invalid_response", "expires_in is not a number", status) from None
    return token, max(0.0, expires_in)


class TokenCache:
    """Access tokens per client, reused until ``REFRESH_MARGIN_S`` before expiry."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[tuple[str, ...], Token] = {}
        self._inflight: dict[tuple[str, ...], asyncio.Task[Token]] = {}
        self.fetches = 0

    @staticmethod
    def _key(oauth: OAuth2, client_secret: str) -> tuple[str, ...]:
        digest = hmac.new(_KEY, client_secret.encode("utf-8"), hashlib.sha256).hexdigest()
        return (oauth.token_url, oauth.client_id, oauth.scope, digest)

    async def token(
        self,
        oauth: OAuth2,
        client_secret: str,
        *,
        context: ssl.SSLContext | None,
        timeout: float,
    ) -> str:
        """A valid access token; raises ``TokenError``."""
        key = self._key(oauth, client_secret)
        cached = self._tokens.get(key)
        if cached is not None and self._clock() < cached.expires_at:
            return cached.value
        loop = asyncio.get_running_loop()
        task = self._inflight.get(key)
        if task is None or task.get_loop() is not loop or task.done():
            task = loop.create_task(self._fetch(key, oauth, client_secret, context, timeout))
            self._inflight[key] = task
        return (await asyncio.shield(task)).value

    async def _fetch(
        self,
        key: tuple[str, ...],
        oauth: OAuth2,
        client_secret: str,
        context: ssl.SSLContext | None,
        timeout: float,
    ) -> Token:
        try:
            self.fetches += 1
            started = self._clock()
            value, expires_in = await asyncio.to_thread(
                fetch_token, oauth, client_secret, context=context, timeout=timeout
            )
            REDACTOR.add([value])  # a token is a credential: masked wherever text goes
            margin = min(REFRESH_MARGIN_S, expires_in / 2)
            token = Token(value, started + expires_in - margin)
            self._tokens[key] = token
            return token
        finally:
            if self._inflight.get(key) is asyncio.current_task():
                del self._inflight[key]

    def forget(self, oauth: OAuth2, client_secret: str) -> None:
        """Drop a token the SMTP server refused (revoked, wrong audience)."""
        self._tokens.pop(self._key(oauth, client_secret), None)

    def clear(self) -> None:
        self._tokens.clear()


TOKENS = TokenCache()


def xoauth2_blob(username: str, token: str) -> bytes:
    raw = f"user={username}\x01auth=Bearer {token}\x01\x01".encode()
    return base64.b64encode(raw)


async def xoauth2(
    smtp: aiosmtplib.SMTP, username: str, token: str, *, timeout: float
) -> SMTPResponse:
    """SASL XOAUTH2 on an open (TLS) connection; raises ``SMTPAuthenticationError``."""
    response = await smtp.execute_command(
        b"AUTH", b"XOAUTH2", xoauth2_blob(username, token), timeout=timeout
    )
    if response.code == 334:
        # The challenge is a base64 JSON error; the client must answer with an empty line.
        response = await smtp.execute_command(b"", timeout=timeout)
    if response.code != 235:
        raise aiosmtplib.SMTPAuthenticationError(response.code, response.message)
    return response


async def login(
    smtp: aiosmtplib.SMTP,
    auth: Auth,
    client_secret: str,
    ca_file: str | None,
    timeout: float,
    cache: TokenCache = TOKENS,
) -> SMTPResponse:
    """Fetch (or reuse) the token and authenticate with XOAUTH2; raises ``C.Failure`` for
    a missing mechanism or a token endpoint error, SMTP errors for a refused login."""
    assert auth.oauth2 is not None
    if "xoauth2" not in smtp.server_auth_methods:
        offered = " ".join(sorted(smtp.server_auth_methods)).upper() or "none"
        raise C.Failure(
            F.AUTH_UNAVAILABLE, f"server does not offer AUTH XOAUTH2 (offers {offered})"
        )
    from reconciler.probe.connection import tls_context

    started = time.monotonic()
    try:
        context = tls_context(ca_file)
        token = await cache.token(auth.oauth2, client_secret, context=context, timeout=timeout)
    except TokenError as exc:
        raise C.Failure(OAUTH2_TOKEN, str(exc)) from None
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise C.Failure(OAUTH2_TOKEN, f"cannot load --ca-file {ca_file}: {exc}") from None
    left = max(0.001, timeout - (time.monotonic() - started))
    try:
        return await xoauth2(smtp, auth.username, token, timeout=left)
    except aiosmtplib.SMTPResponseException:
        cache.forget(auth.oauth2, client_secret)
        raise
