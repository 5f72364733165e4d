"""The targets' HTTP client: stdlib ``http.client`` on worker threads, kept-alive.

Why stdlib and not httpx: the requests are few and simple (JSON in, JSON out), the rest of
mailctl already speaks HTTP with the standard library (the OAuth2 token client), and a
blocking client in a bounded thread pool keeps the sync off the daemon's event loop. Each
worker thread keeps one connection per origin (TLS handshakes are paid once per thread,
not per request).

TLS is always verified: the system trust store plus ``--ca-file``
(:func:`reconciler.probe.engine.tls_context`). Redirects are not followed (a redirect
would re-send the bearer token elsewhere).

:func:`call` adds the retry policy every target shares: 429 and 5xx are retried with
backoff honouring ``Retry-After`` (seconds or an HTTP date), up to ``retries`` times and
never waiting longer than ``max_wait_s`` at once; 403 is ``Forbidden``; a timeout is
``Timeout``; a refused or reset connection ``Unreachable``; a certificate problem
``TlsCertificate``. Errors are :class:`~reconciler.errors.TargetError` with the reason the
``Synced`` condition shows; messages are redacted (a server echoing a secret cannot leak it).
"""

from __future__ import annotations

import email.utils
import http.client
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from reconciler.errors import TargetError
from reconciler.redact import REDACTOR

MAX_BODY = 4 * 1024 * 1024
USER_AGENT = "mailctl"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def snippet(self, limit: int = 500) -> str:
        text = self.body[:limit].decode("utf-8", "replace").replace("\n", " ").strip()
        return REDACTOR(text)


@dataclass(slots=True)
class Counters:
    """Requests sent, by method and status class (``2xx``, ``4xx``, ``timeout``, ...)."""

    by: dict[tuple[str, str], int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, method: str, result: str) -> None:
        with self.lock:
            self.by[(method, result)] = self.by.get((method, result), 0) + 1

    def total(self, method: str | None = None) -> int:
        with self.lock:
            return sum(n for (m, _), n in self.by.items() if method is None or m == method)


class HttpClient:
    """Blocking HTTP(S) with one kept-alive connection per origin and thread."""

    def __init__(self, *, ca_file: str | None, timeout_s: float, counters: Counters) -> None:
        self.timeout_s = timeout_s
        self.counters = counters
        self._ca_file = ca_file
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _context(self) -> ssl.SSLContext:
        from reconciler.probe.engine import tls_context

        try:
            return tls_context(self._ca_file)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise TargetError(
                "TlsCertificate", f"cannot load --ca-file {self._ca_file}: {exc}"
            ) from exc

    def _connection(self, scheme: str, host: str, port: int | None) -> http.client.HTTPConnection:
        pool: dict[tuple[str, str, int | None], http.client.HTTPConnection]
        pool = getattr(self._local, "pool", None) or {}
        self._local.pool = pool
        key = (scheme, host, port)
        conn = pool.get(key)
        if conn is None:
            if scheme == "https":
                conn = http.client.HTTPSConnection(
                    host, port, timeout=self.timeout_s, context=self._context()
                )
            else:
                conn = http.client.HTTPConnection(host, port, timeout=self.timeout_s)
            pool[key] = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _drop(self, scheme: str, host: str, port: int | None) -> None:
        pool = getattr(self._local, "pool", {})
        conn = pool.pop((scheme, host, port), None)
        if conn is not None:
            conn.close()

    def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None
    ) -> Reply:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme, parts.hostname or "", parts.port
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        sent = {"User-Agent": USER_AGENT, "Accept": "application/json", **headers}
        for attempt in (1, 2):
            conn = self._connection(scheme, host, port)
            try:
                conn.request(method, target or "/", body=body, headers=sent)
                response = conn.getresponse()
                data = response.read(MAX_BODY)
                reply = Reply(response.status, dict(response.getheaders()), data)
                if response.will_close:
                    self._drop(scheme, host, port)
                self.counters.add(method, f"{reply.status // 100}xx")
                return reply
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self._drop(scheme, host, port)
                if attempt == 1:
                    continue  # a kept-alive connection the server closed: one fresh try
                self.counters.add(method, "error")
                raise TargetError("Unreachable", f"{method} {_origin(url)}: {exc}") from exc
            except TimeoutError as exc:
                self._drop(scheme, host, port)
                self.counters.add(method, "timeout")
                raise TargetError(
                    "Timeout", f"{method} {_origin(url)}: no answer within {self.timeout_s:g}s"
                ) from exc
            except ssl.SSLCertVerificationError as exc:
                self._drop(scheme, host, port)
                self.counters.add(method, "error")
                raise TargetError(
                    "TlsCertificate",
                    f"{method} {_origin(url)}: certificate verify failed: "
                    f"{exc.verify_message or exc.reason}",
                    hint="pass the issuing CA with --ca-file",
                ) from exc
            except (OSError, http.client.HTTPException) as exc:
                self._drop(scheme, host, port)
                self.counters.add(method, "error")
                why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
                raise TargetError("Unreachable", f"{method} {_origin(url)}: {why}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def retry_after(reply: Reply, now: float | None = None) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds or HTTP-date, RFC 9110 §10.2.3)."""
    value = next((v for k, v in reply.headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 3  # extra attempts after a 429/5xx
    base_s: float = 0.5  # backoff without Retry-After: 0.5, 1, 2 s
    max_wait_s: float = 30.0  # a longer Retry-After fails now; the scope is retried later


def call(
    client: HttpClient,
    method: str,
    url: str,
    headers: Callable[[], Mapping[str, str]],
    body: bytes | None,
    *,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    on_401: Callable[[], bool] | None = None,
) -> Reply:
    """``method url`` with the shared policy; returns a 2xx reply or raises TargetError.

    ``headers`` is called per attempt (a refreshed token goes into the retry). ``on_401``
    is called once on the first 401 and returns whether to retry (after a token refresh)."""
    refreshed = False
    attempt = 0
    while True:
        reply = client.request(method, url, headers(), body)
        status = reply.status
        if 200 <= status < 300:
            return reply
        where = f"{method} {_origin(url)}"
        if status == 401:
            if on_401 is not None and not refreshed and on_401():
                refreshed = True
                continue
            fresh = " even with a fresh token" if refreshed else ""
            raise TargetError(
                "Unauthorized",
                f"{where}: HTTP 401{fresh}: {reply.snippet()}",
                hint="check the External Application's scopes and that it is not disabled",
            )
        if status == 403:
            raise TargetError(
                "Forbidden",
                f"{where}: HTTP 403: {reply.snippet()}",
                hint="grant the application the scopes it needs (Orchestrator: PM.Setting, "
                "PM.Setting.Read, PM.Setting.Write)",
            )
        if status == 429 or status >= 500:
            wait = retry_after(reply)
            reason = "Throttled" if status == 429 else "Unavailable"
            if attempt >= policy.retries or (wait is not None and wait > policy.max_wait_s):
                later = f"; Retry-After {wait:g}s" if wait is not None else ""
                raise TargetError(
                    reason,
                    f"{where}: HTTP {status} after {attempt + 1} attempts{later}: "
                    f"{reply.snippet()}",
                )
            sleep(wait if wait is not None else policy.base_s * (2**attempt))
            attempt += 1
            continue
        raise TargetError("Rejected", f"{where}: HTTP {status}: {reply.snippet()}")
