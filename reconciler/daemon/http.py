"""A tiny HTTP/1.1 server on asyncio streams: GET/HEAD only, one request per connection.

Routes are ``path -> async handler() -> (status, content type, body)``. Requests are capped
(line and header size, a read timeout), so a slow or hostile client cannot hold the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar

from reconciler.net import ListenError
from reconciler.redact import redact_bytes

Response = tuple[int, str, bytes]
Handler = Callable[[], Awaitable[Response]]

MAX_HEADER_BYTES = 16 * 1024
READ_TIMEOUT_S = 5.0
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


_HEADERS: ContextVar[Mapping[str, str] | None] = ContextVar("request_headers", default=None)


def request_header(name: str) -> str | None:
    """A header of the request being handled (case-insensitive name), for handlers that
    negotiate (``/metrics``: OpenMetrics on ``Accept``)."""
    return (_HEADERS.get() or {}).get(name.lower())


def _parse_headers(head: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip():
            headers[name.strip().lower()] = value.strip()
    return headers


def _response(status: int, ctype: str, body: bytes, head: bool) -> bytes:
    body = redact_bytes(body)  # no secret in any HTTP response (DESIGN §8)
    lines = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
        f"Content-Type: {ctype}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        "Cache-Control: no-store",
        "",
        "",
    ]
    return "\r\n".join(lines).encode("latin-1") + (b"" if head else body)


class HttpServer:
    def __init__(self, routes: Mapping[str, Handler], log: object | None = None) -> None:
        self.routes = dict(routes)
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, host: str, port: int) -> None:
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
        handler = self.routes.get(target.split("?", 1)[0])
        if handler is None:
            return _response(404, "text/plain", b"not found\n", head)
        _HEADERS.set(_parse_headers(data))
        try:
            status, ctype, body = await handler()
        except Exception as exc:  # a handler failure is a 500, never a dead server
            msg = f"error: {type(exc).__name__}: {exc}\n".encode()
            return _response(500, "text/plain", msg, head)
        return _response(status, ctype, body, head)
