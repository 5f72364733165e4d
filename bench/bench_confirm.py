"""Delivery-confirmation and XOAUTH2 benchmark: what "sent *and received*" costs a probe.

    python bench/bench_confirm.py                 # defaults: 30 probes per scenario
    python bench/bench_confirm.py --probes 100

Scenarios, each run one probe at a time against the in-process development sink
(``reconciler.devtools.sink``, plaintext loopback, Maildir delivery), medians and p95 of the
wall time per probe:

- ``smtp``: the SMTP stages only (no ``probe.confirm``);
- ``smtp+maildir``: the same with ``probe.confirm.maildir`` on the sink's Maildir: the
  extra time is polling until the sink's file appears, reading it, deleting it;
  ``deliveryMs`` is reported too.

And the OAuth2 token cache (``reconciler.probe.oauth2.TokenCache``) against a local
client-credentials endpoint (``http.server`` on loopback): the first token (an HTTP
request) vs every later one (cached), per call.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from reconciler.devtools.sink import Sink, SinkConfig
from reconciler.model import Confirm, Effective, OAuth2, Sender, SmtpSettings
from reconciler.probe import ProbeTarget, probe_outcomes
from reconciler.probe.oauth2 import TokenCache


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(ordered), 2), "p95_ms": round(p95, 2)}


def _settings(port: int, confirm: Confirm | None) -> Effective:
    return Effective(
        smtp=SmtpSettings(host="127.0.0.1", port=port, tls="none", timeout_ms=10_000),
        sender=Sender("notify@bench.example"),
        probe_to="probe@bench.example",
        confirm=confirm,
    )


def bench_probes(n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mailctl-bench-confirm-") as tmp:
        maildir = Path(tmp) / "maildir"
        with Sink(SinkConfig(port=0, maildir=str(maildir)), out=io.StringIO()) as sink:
            for name, confirm in (
                ("smtp", None),
                ("smtp+maildir", Confirm(maildir=str(maildir), within_ms=10_000)),
            ):
                walls: list[float] = []
                deliveries: list[float] = []
                for _ in range(n):
                    target = ProbeTarget("host", _settings(sink.port, confirm), None)
                    started = time.perf_counter()
                    (outcome,) = asyncio.run(probe_outcomes([target]))
                    walls.append((time.perf_counter() - started) * 1000.0)
                    result = outcome.result
                    if not result.passed:
                        raise SystemExit(f"{name}: probe failed: {result.message}")
                    if result.delivery_ms is not None:
                        deliveries.append(result.delivery_ms)
                out[name] = _stats(walls)
                if deliveries:
                    out[name]["deliveryMs"] = _stats(deliveries)
            left = list((maildir / "new").iterdir())
            out["maildir_left_after_confirmed_probes"] = len(left) - n  # the smtp-only ones
    return out


class _Token(BaseHTTPRequestHandler):
    requests = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).requests += 1
        body = json.dumps(
            {"token_type": "Bearer", "expires_in": 3599, "access_token": f"t{self.requests}"}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


def bench_tokens(n: int) -> dict[str, Any]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Token)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        oauth = OAuth2(f"http://127.0.0.1:{server.server_address[1]}/token", "bench", "s")
        cache = TokenCache()

        async def run() -> tuple[float, list[float]]:
            started = time.perf_counter()
            await cache.token(oauth, "secret", context=None, timeout=5)
            first = (time.perf_counter() - started) * 1000.0
            cached = []
            for _ in range(n):
                started = time.perf_counter()
                await cache.token(oauth, "secret", context=None, timeout=5)
                cached.append((time.perf_counter() - started) * 1000.0)
            return first, cached

        first, cached = asyncio.run(run())
    finally:
        server.shutdown()
        server.server_close()
    return {
        "first_token_ms": round(first, 2),
        "cached_token": _stats(cached),
        "endpoint_requests": _Token.requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--probes", type=int, default=30)
    args = parser.parse_args()
    report = {"probes": bench_probes(args.probes), "oauth2": bench_tokens(args.probes * 10)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
