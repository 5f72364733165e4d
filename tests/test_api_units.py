"""The read API's parts on their own: the scope index (filters, sorts, pages, counts), the
field-level history diff, the HTTP server's access rules and the API token file."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler import conditions as cond
from reconciler.daemon.apitoken import api_token, read_token
from reconciler.daemon.http import HttpServer, Response, current_request
from reconciler.daemon.scopedetail import SENSITIVE_CHANGED, field_changes
from reconciler.daemon.scopeindex import (
    MIN_REFRESH_S,
    QUICK_ROWS,
    IndexCache,
    ScopeIndex,
    latency_distribution,
    row_of,
)
from reconciler.errors import ConfigError, UsageError
from reconciler.net import is_loopback
from reconciler.redact import REDACTOR
from reconciler.store import ScopeRecord


def _probe(status: str, cls: str | None, stage: str, ms: dict[str, float], pid: str) -> Any:
    return {"status": status, "class": cls, "stage": stage, "latency_ms": ms, "probe_id": pid}


def _index() -> ScopeIndex:
    def row(scope: str, conditions: Any, probe: Any = None, applied: bool = True) -> Any:
        return row_of(
            scope,
            mode="default",
            applied=applied,
            source=f"configs/{scope}.yaml",
            conditions=conditions,
            probe=probe,
            revision="r1",
            applied_at=f"2026-01-01T00:00:{len(scope):02d}Z",
            attempted_at=None,
            intern=lambda s: s,
        )

    passed = _probe("passed", None, "quit", {"connect": 2.0, "data": 8.0}, "p1")
    refused = _probe("failed", "connect_refused", "connect", {"connect": 1.0}, "p2")
    denied = _probe("failed", "relay_denied", "rcpt", {"connect": 1, "rcpt": 300}, "p3")
    not_synced = {"status": "False", "reason": "SyncFailed", "message": "503"}
    synced_false = {**cond.applied("r1"), "Ready": not_synced, "Synced/prod": not_synced}
    rows = [
        row("host", cond.from_probe(passed), passed),
        row("org/acme", cond.from_probe(passed), passed),
        row("org/acme-eu", cond.from_probe(refused), refused),
        row("org/beta", cond.stalled("InvalidManifest", "configs/b.yaml:3:1: bad"), passed),
        row("org/gamma", cond.from_probe(denied), denied),
        row("org/held", cond.stalled("SecretUnresolved", "x"), None, applied=False),
        row("org/sync", synced_false, None),
    ]
    return ScopeIndex(rows, data_version=7, revision="r1", suspension=None, invalid_files=[])


def test_index_counts_by_condition_class_and_latency() -> None:
    summary = _index().summary()
    assert summary["total"] == 7
    assert summary["counts"] == {
        "ready": 2,
        "notReady": 5,
        "stalled": 2,
        "probeFailed": 2,
        "notSynced": 1,
        "unprobed": 2,
        "held": 1,
        "suspended": 0,
    }
    assert summary["classes"] == {"connect_refused": 1, "relay_denied": 1}
    # One sample per distinct probe id: p1 (10 ms, shared by three scopes), p2, p3.
    assert summary["latency"]["probes"] == 3
    assert summary["latency"]["counts"][0] == 2 and summary["latency"]["counts"][5] == 1


def test_index_search_filter_sort_and_pages() -> None:
    index = _index()
    assert [r.scope for r in index.query(q="ACME").items] == ["org/acme", "org/acme-eu"]
    assert [r.scope for r in index.query(condition="stalled").items] == ["org/beta", "org/held"]
    assert [r.scope for r in index.query(failure_class="relay_denied").items] == ["org/gamma"]
    page = index.query(condition="not_ready", q="a", limit=2, offset=1)
    assert page.total == 3 and [r.scope for r in page.items] == ["org/beta", "org/gamma"]
    worst = [r.scope for r in index.query(sort="condition").items]
    assert worst[:2] == ["org/beta", "org/held"] and worst[-1] == "org/acme"
    slowest = index.query(sort="latency", descending=True).items
    assert slowest[0].scope != "org/gamma"  # unprobed sort last ascending, first descending
    by_latency = [r.scope for r in index.query(sort="latency").items]
    assert by_latency[:2] == ["org/acme-eu", "host"] and by_latency[4] == "org/gamma"
    assert index.find("org/gamma") is not None and index.find("org/nope") is None
    assert index.query(offset=100).items == [] and index.query(offset=100).total == 7


def test_latency_distribution_percentiles() -> None:
    dist = latency_distribution([5, 20, 30, 600, 20000])
    assert dist["counts"] == [1, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1]
    assert dist["p50"] == 30 and dist["max"] == 20000


def _rec(display: str, fp: str, password: str = "env:ACME_SMTP_PASSWORD") -> ScopeRecord:
    eff = {"smtp.host": "mx", "from.displayName": display, "smtp.auth.password": password}
    return ScopeRecord(
        "org/acme", "custom", {}, eff, {k: "org" for k in eff}, fingerprint=fp, conditions={}
    )


def test_field_changes_show_references_and_mask_secret_rotation() -> None:
    changes = field_changes(_rec("A", "f1"), _rec("B", "f1"))
    assert changes == [
        {
            "field": "from.displayName",
            "before": "A",
            "after": "B",
            "sourceBefore": "org",
            "sourceAfter": "org",
            "secret": False,
        }
    ]
    rotated = field_changes(_rec("A", "f1"), _rec("A", "f2"))
    assert rotated == [{"field": "secret", "before": None, "after": SENSITIVE_CHANGED}]
    moved = field_changes(_rec("A", "f1"), _rec("A", "f2", "file:orgs/acme/pw"))
    assert moved[0]["after"] == "file:orgs/acme/pw" and moved[0]["note"] == SENSITIVE_CHANGED
    created = field_changes(None, _rec("A", "f1"))
    assert {c["field"] for c in created} == {"mode", "smtp.host", "from.displayName"} | {
        "smtp.auth.password"
    }


# ---------------------------------------------------------------------------- HTTP access


async def _exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    return data


def _serve(requests: list[bytes], token: str | None, host: str = "127.0.0.1") -> list[bytes]:
    async def echo() -> Response:
        req = current_request()
        return 200, "text/plain", f"{req.path}|{req.param('q')}".encode()

    async def ok() -> Response:
        return 200, "text/plain", b"ok\n"

    async def scenario() -> list[bytes]:
        routes = {"/healthz": ok, "/status": ok, "/v1/scopes": echo, "/v1/scopes/": echo}
        server = HttpServer(routes, token=token)
        await server.start(host, 0)
        try:
            return [await _exchange(server.port, r) for r in requests]
        finally:
            await server.stop()

    return asyncio.run(scenario())


def _status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


def test_bearer_token_guards_everything_but_health() -> None:
    token = "t0ken-" + "x" * 20
    local = b"Host: 127.0.0.1\r\n"
    replies = _serve(
        [
            b"GET /healthz HTTP/1.1\r\n\r\n",
            b"GET /status HTTP/1.1\r\n\r\n",
            b"GET /v1/scopes HTTP/1.1\r\n" + local + b"Authorization: Bearer wrong\r\n\r\n",
            b"GET /v1/scopes?q=a%20b HTTP/1.1\r\n"
            + local
            + f"Authorization: bearer {token}\r\n\r\n".encode(),
            b"GET /status HTTP/1.1\r\nAuthorization: Basic " + token.encode() + b"\r\n\r\n",
        ],
        token,
    )
    assert [_status(r) for r in replies] == [200, 401, 401, 200, 401]
    assert b'WWW-Authenticate: Bearer realm="mailctl"' in replies[1]
    assert replies[3].endswith(b"/v1/scopes|a b")
    for reply in replies:
        head = reply.split(b"\r\n\r\n", 1)[0]
        assert b"Content-Security-Policy: default-src 'self';" in head
        assert b"X-Content-Type-Options: nosniff" in head


def test_routes_by_prefix_and_guards_browser_paths_against_rebinding() -> None:
    replies = _serve(
        [
            b"GET /v1/scopes/org%2Facme HTTP/1.1\r\nHost: localhost:9310\r\n\r\n",
            b"GET /v1/scopes/org/acme HTTP/1.1\r\nHost: [::1]:9310\r\n\r\n",
            b"GET /v1/scopes HTTP/1.1\r\nHost: evil.example:9310\r\n\r\n",
            b"GET /status HTTP/1.1\r\nHost: evil.example:9310\r\n\r\n",  # not a browser path
            b"GET /v1/scopes?" + b"&".join(b"a=%d" % i for i in range(60)) + b" HTTP/1.1\r\n\r\n",
        ],
        None,
    )
    assert [_status(r) for r in replies] == [200, 200, 421, 200, 400]
    assert replies[0].endswith(b"/v1/scopes/org/acme|None")


def test_listen_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("::")
    assert not is_loopback("192.0.2.1")


def test_token_file_rules(tmp_path: Path) -> None:
    good = tmp_path / "token"
    good.write_text("a" * 32 + "\n")
    assert read_token(good) == "a" * 32
    assert api_token("127.0.0.1", None) is None
    with pytest.raises(UsageError, match="not a loopback address"):
        api_token("0.0.0.0", None)
    secret = "Tok-" + os.urandom(12).hex()
    good.write_text(secret)
    assert api_token("0.0.0.0", good) == secret
    assert secret not in REDACTOR(f"echo {secret}")  # joins the redactor
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    short, binary, big = tmp_path / "short", tmp_path / "bin", tmp_path / "big"
    short.write_text("abc\n")
    binary.write_bytes(b"\xff" * 40)
    big.write_text("a" * 5000)
    for path, words in (
        (fifo, "not a regular file"),
        (short, "at least 16"),
        (binary, "not UTF-8"),
        (big, "larger than"),
        (tmp_path / "missing", "No such file"),
    ):
        with pytest.raises(ConfigError, match=words) as info:
            read_token(path)
        assert "\n" not in info.value.message


def test_index_cache_rebuilds_small_fleets_at_once_and_big_ones_in_the_background() -> None:
    version = [1]
    index_row = _index().rows[0]

    def build(slow: float) -> ScopeIndex:
        time.sleep(slow)
        rows = [] if slow == 0 else [index_row] * (QUICK_ROWS + 1)  # a big fleet: not quick
        return ScopeIndex(rows, version[0], None, None, [])

    async def scenario(slow: float, pause: float) -> list[int]:
        version[0] = 1
        cache = IndexCache(lambda: build(slow), lambda: version[0])
        seen = [(await cache.get()).data_version]
        version[0] = 2
        seen.append((await cache.get()).data_version)
        await asyncio.sleep(pause)
        seen.append((await cache.get()).data_version)  # due: rebuild starts, old one served
        await asyncio.sleep(slow + 0.1)
        seen.append((await cache.get()).data_version)
        await cache.close()
        return seen

    # Quick builds are waited for: every answer is current.
    assert asyncio.run(scenario(0.0, 0.0)) == [1, 2, 2, 2]
    # Big ones (> QUICK_ROWS): the old index until the rebuild is due
    # (max(MIN_REFRESH_S, 3 x build) after the last), which then runs in the background.
    assert MIN_REFRESH_S == 1.0
    assert asyncio.run(scenario(0.15, 1.0)) == [1, 1, 1, 2]
