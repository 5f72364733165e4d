"""The daemon's own HTTP endpoints (``/healthz``, ``/readyz``, ``/status``, ``/metrics``)
and the duration words its log lines use. The read API and the status page are
:mod:`.api`; routing, the bearer token and the headers are :mod:`.http`."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from reconciler.operations import status_payload
from reconciler.reporters import FORMAT_VERSION

from .http import Response, request_header

if TYPE_CHECKING:
    from .loop import Daemon


def human(seconds: float) -> str:
    """``120ms``, ``4.2s``, ``10m``, ``1h30m`` (Flux-like)."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s".replace(".0s", "s")
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return out + (f"{secs}s" if secs else "")


async def healthz(daemon: Daemon) -> Response:
    """Loop liveness only (answering at all proves the event loop runs; a long reconcile
    or hanging probes are no liveness problem), and a lost store."""
    if daemon.lost is not None:
        return 503, "text/plain", f"store lost: {daemon.lost}\n".encode()
    if not daemon.stopping.is_set():
        return 200, "text/plain", b"ok\n"
    return 503, "text/plain", b"not alive\n"


async def readyz(daemon: Daemon) -> Response:
    if daemon.ready and not daemon.stopping.is_set():
        return 200, "text/plain", b"ready\n"
    if daemon.serving_as_standby and not daemon.stopping.is_set():
        return 200, "text/plain", b"ready: standby, serving from the store\n"
    return 503, "text/plain", b"not ready: first reconcile not finished\n"


async def status(daemon: Daemon) -> Response:
    payload = await asyncio.to_thread(status_payload, daemon.reader)
    leader = daemon.leadership.describe()
    if leader is not None:
        payload["leader"] = leader
    body = json.dumps({"format_version": FORMAT_VERSION, **payload}, indent=2)
    return 200, "application/json", body.encode()


async def metrics(daemon: Daemon) -> Response:
    body, content_type = daemon.metrics.render(request_header("accept"))
    return 200, content_type, body
