"""A contract server for UiPath Orchestrator's Identity settings API, on loopback.

A STAND-IN: Orchestrator is a commercial cloud product that cannot run here. This server
is built only from UiPath's public documentation:

- Identity Server token endpoint (External Applications (OAuth), client credentials):
  ``POST {base}/identity_/connect/token``, ``application/x-www-form-urlencoded`` with
  ``grant_type=client_credentials``, ``client_id``, ``client_secret``, ``scope``; answers
  ``{"access_token", "expires_in", "token_type": "Bearer", "scope"}``; an unknown client
  gets ``400 {"error": "invalid_client"}``, a scope the application was not granted
  ``400 {"error": "invalid_scope"}``.
  (docs.uipath.com/…/api-guide/accessing-uipath-resources-using-external-applications)
- Get settings: ``GET {base}/identity_/api/Setting?partitionGlobalId=…&key=…&key=…``,
  scopes ``PM.Setting`` or ``PM.Setting.Read``; the answer is a JSON array of
  ``{key, value}`` (docs.uipath.com/…/api-guide/get-settings).
- Update settings: ``PUT {base}/identity_/api/Setting`` with ``{"settings": [{"key",
  "value"}], "partitionGlobalId", "userId"?}``, scopes ``PM.Setting`` or
  ``PM.Setting.Write``; ``200`` (docs.uipath.com/…/api-guide/update-settings).
- ``Authorization: Bearer``: a missing, unknown or expired token is ``401``; a token
  without the needed scope ``403``.

Where the documentation is silent (the password's read-back, throttling), the server
behaves like common ASP.NET Identity deployments: a stored ``Email.Smtp.Password`` is
never returned by GET; ``429`` and ``503`` carry ``Retry-After``.

Every request is recorded (method, path, query, parsed body, status); faults can be
queued per method (``fail(...)``), tokens revoked (``revoke_tokens``), requests delayed
(``delay_s``), and settings edited behind mailctl's back (``tamper``).
"""

from __future__ import annotations

import json
import secrets
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CLIENT_ID = "7c1a0f6e-5b2d-4e3f-9a8b-0c1d2e3f4a5b"
CLIENT_SECRET = "orch-Client.Secret~Canary-7Q2w9E"
GRANTED = frozenset({"PM.Setting", "PM.Setting.Read", "PM.Setting.Write"})
IDENTITY = "/identity_"
PASSWORD_KEY = "Email.Smtp.Password"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int
    headers: dict[str, str]

    @property
    def partition(self) -> str | None:
        if isinstance(self.body, dict):
            return self.body.get("partitionGlobalId")
        return (self.query.get("partitionGlobalId") or [None])[0]

    @property
    def keys(self) -> list[str]:
        if isinstance(self.body, dict):
            return [s["key"] for s in self.body.get("settings", [])]
        return self.query.get("key", [])


@dataclass
class Fault:
    status: int
    retry_after: str | None = None
    times: int = 1
    echo: bool = False  # answer with the request's headers and body (a careless server)


@dataclass
class OrchestratorServer:
    port: int = 0
    expires_in: int = 3600
    granted: frozenset[str] = GRANTED
    delay_s: float = 0.0  # every API request waits this long first (timeouts)
    settings: dict[str, dict[str, str]] = field(default_factory=dict)  # partition -> key -> value
    tokens: dict[str, tuple[float, frozenset[str]]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=dict)  # method -> queue
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    scheme: str = "http"

    # ------------------------------------------------------------ control

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def fail(
        self,
        method: str,
        status: int,
        *,
        retry_after: str | None = None,
        times: int = 1,
        echo: bool = False,
    ) -> None:
        with self.lock:
            self.faults.setdefault(method, []).append(Fault(status, retry_after, times, echo))

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def tamper(self, partition: str, key: str, value: str) -> None:
        with self.lock:
            self.settings.setdefault(partition, {})[key] = value

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()

    def api_requests(self, method: str | None = None) -> list[Request]:
        with self.lock:
            return [
                r
                for r in self.requests
                if r.path.endswith("/api/Setting") and (method is None or r.method == method)
            ]

    def token_requests(self) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path.endswith("/connect/token")]

    # ------------------------------------------------------------ behaviour

    def _fault(self, method: str) -> Fault | None:
        queue = self.faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        return fault

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return 400, {"error": "invalid_client"}
        asked = frozenset((form.get("scope") or "").split())
        if not asked or not asked <= self.granted:
            return 400, {"error": "invalid_scope"}
        value = secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[value] = (time.monotonic() + self.expires_in, asked)
        return 200, {
            "access_token": value,
            "expires_in": self.expires_in,
            "token_type": "Bearer",
            "scope": " ".join(sorted(asked)),
        }

    def authorize(self, header: str | None, needed: frozenset[str]) -> int:
        if not header or not header.startswith("Bearer "):
            return 401
        with self.lock:
            found = self.tokens.get(header[len("Bearer ") :])
        if found is None or time.monotonic() >= found[0]:
            return 401
        return 200 if found[1] & needed else 403

    def get(self, query: dict[str, list[str]]) -> list[dict[str, str]]:
        partition = (query.get("partitionGlobalId") or [""])[0]
        keys = query.get("key") or []
        with self.lock:
            held = dict(self.settings.get(partition, {}))
        return [
            {"key": k, "value": v}
            for k, v in sorted(held.items())
            if (not keys or k in keys) and k != PASSWORD_KEY
        ]

    def put(self, body: Any) -> int:
        if not isinstance(body, dict) or not isinstance(body.get("settings"), list):
            return 400
        partition = str(body.get("partitionGlobalId") or "")
        with self.lock:
            target = self.settings.setdefault(partition, {})
            for item in body["settings"]:
                target[str(item["key"])] = str(item["value"])
        return 200


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "OrchestratorContract/1.0"
    # Headers and body leave in two writes: without TCP_NODELAY, Nagle holds the body
    # until the client's delayed ACK (~40 ms per kept-alive request), as no real server does.
    disable_nagle_algorithm = True
    state: OrchestratorServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(
        self, status: int, payload: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, method: str) -> None:
        st = self.state
        parts = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(parts.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        if parts.path.endswith("/connect/token"):
            body = dict(urllib.parse.parse_qsl(raw.decode()))
        elif raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        status, payload, headers = self._route(method, parts.path, query, body)
        with st.lock:
            st.requests.append(
                Request(method, parts.path, query, body, status, dict(self.headers.items()))
            )
        self._send(status, payload, headers)

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        st = self.state
        if method == "POST" and path == f"{IDENTITY}/connect/token":
            status, payload = st.token(body)
            return status, payload, {}
        if path != f"{IDENTITY}/api/Setting" or method not in ("GET", "PUT"):
            return 404, {"message": "not found"}, {}
        if st.delay_s:
            time.sleep(st.delay_s)
        with st.lock:
            fault = st._fault(method)
        if fault is not None:
            extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            if fault.echo:
                seen = {"headers": dict(self.headers.items()), "body": body}
                return fault.status, {"message": "bad request", "request": seen}, extra
            return fault.status, {"message": f"injected {fault.status}"}, extra
        needed = {
            "GET": {"PM.Setting", "PM.Setting.Read"},
            "PUT": {"PM.Setting", "PM.Setting.Write"},
        }
        auth = st.authorize(self.headers.get("Authorization"), frozenset(needed[method]))
        if auth != 200:
            return auth, {"message": "Unauthorized" if auth == 401 else "Forbidden"}, {}
        if method == "GET":
            return 200, st.get(query), {}
        return st.put(body), None, {}

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_POST(self) -> None:
        self._handle("POST")


def serve(
    state: OrchestratorServer, tls: ssl.SSLContext | None = None
) -> Iterator[OrchestratorServer]:
    """Run ``state`` on loopback (HTTPS with ``tls``) until the generator is closed."""
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", state.port), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        state.scheme = "https"
    server.daemon_threads = True
    state.server = server
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="orchestrator", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
