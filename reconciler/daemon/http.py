"""A tiny HTTP/1.1 server on asyncio streams: GET/HEAD only, one request per connection.

Routes are ``path -> async handler() -> Response``; a route ending in ``/`` also matches
every path below it (``/v1/scopes/`` serves ``/v1/scopes/org/acme``). A handler reads the
request being served with :func:`current_request` (path, query, headers). Requests are
capped (line and header size, a read timeout), so a slow or hostile client cannot hold the
daemon.

Access (DESIGN §12): with a ``token``, every path but the ``open_paths`` (``/healthz``,
``/readyz``) needs ``Authorization: Bearer <token>``, compared in constant time; a wrong or
missing one is a 401. The daemon sets a token exactly when ``--listen`` is not loopback.
Every response carries a strict Content-Security-Policy and no-sniff/no-frame headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import Awaitable, Callable, Collection, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote

from reconciler.net import ListenError, is_loopback
from reconciler.redact import redact_bytes

# (status, content type, body) or with extra response headers as a fourth element.
Response = tuple[int, str, bytes] | tuple[int, str, bytes, Mapping[str, str]]
Handler = Callable[[], Awaitable[Response]]

MAX_HEADER_BYTES = 16 * 1024
READ_TIMEOUT_S = 5.0
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
_REASONS = {
    200: "OK",
    301: "Moved Permanently",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    421: "Misdirected Request",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
# No inline script or style, nothing from another origin, no framing, no plugins.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str  # percent-decoded, without the query
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    def param(self, name: str, default: str | None = None) -> str | None:
        """The last value of query parameter ``name``."""
        values = self.query.get(name)
        return values[-1] if values else default


_REQUEST: ContextVar[Request | None] = ContextVar("http_request", default=None)


def current_request() -> Request:
    """The request being handled (inside a handler)."""
    req = _REQUEST.get()
    return req if req is not None else Request("GET", "/")


def request_header(name: str) -> str | None:
    """A header of the request being handled (case-insensitive name), for handlers that
    negotiate (``/metrics``: OpenMetrics on ``Accept``)."""
    return current_request().headers.get(name.lower())


def _parse_headers(head: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip():
            headers[name.strip().lower()] = value.strip()
    return headers


def _host_is_loopback_name(host_header: str | None) -> bool:
    """A ``Host`` header naming this machine's loopback, or none (DNS-rebinding guard:
    browsers always send the name they resolved)."""
    if host_header is None:
        return True
    host = host_header.strip()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host
    else:
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return is_loopback(host)


def _response(
    status: int,
    ctype: str,
    body: bytes,
    head: bool,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    body = redact_bytes(body)  # no secret in any HTTP response (DESIGN §8)
    lines = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
        f"Content-Type: {ctype}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        "Cache-Control: no-store",
    ]
    for name, value in {**SECURITY_HEADERS, **(headers or {})}.items():
        lines.append(f"{name}: {value}")
    return "\r\n".join([*lines, "", ""]).encode("latin-1") + (b"" if head else body)


class HttpServer:
    def __init__(
        self,
        routes: Mapping[str, Handler],
        log: object | None = None,
        *,
        token: str | None = None,
        open_paths: Collection[str] = OPEN_PATHS,
        browser_paths: tuple[str, ...] = ("/ui", "/v1/"),
    ) -> None:
        self.routes = dict(routes)
        self.token = token
        self.open_paths = frozenset(open_paths)
        self.browser_paths = browser_paths
        self.loopback_only = True  # set by start(): the listen address is loopback
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        self.loopback_only = is_loopback(host)  # 0.0.0.0, :: and host names: not
        try:
            self.server = await asyncio.start_server(self._serve, host, port)
        except OSError as exc:
            raise ListenError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                hint="pick a free address with --listen HOST:PORT",
            ) from exc
        sock = self.server.sockets[0]
        self.port = int(sock.getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.server.wait_closed(), timeout=2.0)
            self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            data = await asyncio.wait_for(self._read_head(reader), timeout=READ_TIMEOUT_S)
            writer.write(await self._dispatch(data))
            await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), timeout=1.0)

    async def _read_head(self, reader: asyncio.StreamReader) -> bytes | None:
        try:
            return await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            return None
        except asyncio.IncompleteReadError as exc:
            return exc.partial if exc.partial.endswith(b"\n\n") else None

    def _route(self, path: str) -> Handler | None:
        handler = self.routes.get(path)
        if handler is not None:
            return handler
        best = ""
        for prefix in self.routes:
            if prefix.endswith("/") and path.startswith(prefix) and len(prefix) > len(best):
                best = prefix
        return self.routes[best] if best else None

    def authorized(self, headers: Mapping[str, str]) -> bool:
        """The request carries the bearer token (constant-time comparison)."""
        if self.token is None:
            return True
        scheme, _, presented = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(presented.strip().encode(), self.token.encode())

    async def _dispatch(self, data: bytes | None) -> bytes:
        if data is None or len(data) > MAX_HEADER_BYTES:
            return _response(400, "text/plain", b"bad request\n", False)
        parts = data.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(parts) != 3:
            return _response(400, "text/plain", b"bad request\n", False)
        method, target, _ = parts
        head = method == "HEAD"
        if method not in ("GET", "HEAD"):
            return _response(405, "text/plain", b"method not allowed\n", False)
        raw_path, _, query = target.partition("?")
        path = unquote(raw_path, errors="replace")
        headers = _parse_headers(data)
        handler = self._route(path)
        if handler is None:
            return _response(404, "text/plain", b"not found\n", head)
        if path not in self.open_paths and not self.authorized(headers):
            challenge = {"WWW-Authenticate": 'Bearer realm="mailctl"'}
            return _response(401, "text/plain", b"unauthorized\n", head, challenge)
        if (
            self.loopback_only
            and path.startswith(self.browser_paths)
            and not _host_is_loopback_name(headers.get("host"))
        ):
            # A loopback listener is open without a token; a page on another site must not
            # reach it through DNS rebinding, so the browser-facing paths want a local Host.
            return _response(421, "text/plain", b"misdirected request: Host\n", head)
        try:
            params = parse_qs(query, max_num_fields=50)
        except ValueError:
            return _response(400, "text/plain", b"bad request: query\n", head)
        _REQUEST.set(Request(method, path, params, headers))
        try:
            response = await handler()
        except Exception as exc:  # a handler failure is a 500, never a dead server
            msg = f"error: {type(exc).__name__}: {exc}\n".encode()
            return _response(500, "text/plain", msg, head)
        if len(response) == 4:
            status, ctype, body, extra = response
            return _response(status, ctype, body, head, extra)
        status, ctype, body = response
        return _response(status, ctype, body, head)
