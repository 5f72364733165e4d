"""The daemon's pieces in-process: filter, durations, redaction, metrics, cache, HTTP."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import structlog
from watchfiles import Change

from reconciler.cli.options import parse_duration
from reconciler.daemon.cache import ManifestCache
from reconciler.daemon.endpoints import human
from reconciler.daemon.http import HttpServer
from reconciler.daemon.watch import ManifestFilter
from reconciler.errors import UsageError
from reconciler.logs import REDACTED, Redactor, configure_logging, get_logger
from reconciler.net import ListenError, parse_listen
from tests.fixtures_daemon import default_org, free_port, host_manifest, wait_for, write_configs


@pytest.mark.parametrize(
    ("name", "passes"),
    [
        ("orgs/acme.yaml", True),
        ("orgs/acme.yml", True),
        ("orgs", True),  # maybe a folder
        ("orgs/.acme.yaml.swp", False),
        ("orgs/acme.yaml.swx", False),
        ("orgs/acme.yaml~", False),
        ("orgs/.#acme.yaml", False),
        ("orgs/#acme.yaml#", False),
        ("orgs/4913", False),
        ("orgs/acme.yaml.tmp", False),
        ("orgs/.hidden.yaml", False),
        (".git/HEAD", False),
        ("orgs/notes.txt", False),
        ("orgs/acme.json", False),
    ],
)
def test_filter_ignores_editor_debris(tmp_path: Path, name: str, passes: bool) -> None:
    assert ManifestFilter(tmp_path)(Change.modified, str(tmp_path / name)) is passes


def test_durations() -> None:
    assert parse_duration("10m") == 600
    assert parse_duration("30s") == 30
    assert parse_duration("500ms") == 0.5
    assert parse_duration("1h30m") == 5400
    assert parse_duration("45") == 45
    for bad in ("", "10x", "m", "1m-", "ten"):
        with pytest.raises(UsageError):
            parse_duration(bad)
    assert human(0.12) == "120ms"
    assert human(600) == "10m"
    assert human(4.25) == "4.2s" or human(4.25) == "4.3s"
    assert human(5400) == "1h30m"


def test_listen_parsing() -> None:
    assert parse_listen("127.0.0.1:9310") == ("127.0.0.1", 9310)
    assert parse_listen("[::1]:80") == ("::1", 80)
    for bad in ("9310", "host:", ":80", "h:99999"):
        with pytest.raises(ListenError):
            parse_listen(bad)


def test_redactor_masks_known_secrets_everywhere() -> None:
    out = io.StringIO()
    red = Redactor()
    red.add(["hunter2-secret", "ab"])  # too short to be treated as a secret
    configure_logging("json", out, redactor=red)
    get_logger().info(
        "probe.failed",
        message="535 auth failed for hunter2-secret",
        nested={"a": ["x hunter2-secret y"], "hunter2-secret": 1},
        error=ValueError("hunter2-secret"),
    )
    line = out.getvalue()
    assert "hunter2-secret" not in line
    event = json.loads(line)
    assert event["event"] == "probe.failed"
    assert REDACTED in event["message"]
    structlog.reset_defaults()


def test_cache_reports_touched_scopes(tmp_path: Path) -> None:
    configs = write_configs(tmp_path, 2525)
    cache = ManifestCache(configs)
    cache.full_scan()
    assert len(cache.entries) == 5
    orgs = configs / "orgs"
    ab = os.path.abspath

    # Unchanged signature: nothing re-checked.
    assert cache.refresh([ab(orgs / "acme.yaml")]).empty
    # Rename the org inside its file: both identities are touched.
    (orgs / "acme.yaml").write_text(default_org("acme2") + "\n")
    delta = cache.refresh([ab(orgs / "acme.yaml")])
    assert delta.scopes == {"org/acme", "org/acme2"} and not delta.host
    # Unreadable file: the scope it defined last is touched (to be held).
    (orgs / "acme.yaml").write_text("metadata: [\n")
    assert cache.refresh([ab(orgs / "acme.yaml")]).scopes == {"org/acme2"}
    # Removed: the cached scope.
    (orgs / "acme.yaml").unlink()
    delta = cache.refresh([ab(orgs / "acme.yaml")])
    assert delta.removed and delta.scopes == {"org/acme2"}
    # A folder event rescans the folder; the host is flagged.
    (configs / "host.yaml").write_text(host_manifest(2526))
    new = configs / "more"
    new.mkdir()
    (new / "x.yaml").write_text(default_org("x"))
    delta = cache.refresh([ab(new), ab(configs / "host.yaml")])
    assert delta.scopes == {"org/x", "host"} and delta.host
    # Set-wide rules see every cached check.
    run = cache.combine()
    assert not run.set_errors and len(run.checks) == 5


def test_http_server_routes() -> None:
    async def scenario() -> list[bytes]:
        async def ok() -> tuple[int, str, bytes]:
            return 200, "text/plain", b"ok\n"

        async def boom() -> tuple[int, str, bytes]:
            raise RuntimeError("x")

        server = HttpServer({"/ok": ok, "/boom": boom})
        await server.start("127.0.0.1", 0)
        replies = []
        for request in (
            b"GET /ok HTTP/1.1\r\n\r\n",
            b"GET /nope HTTP/1.1\r\n\r\n",
            b"POST /ok HTTP/1.1\r\n\r\n",
            b"GET /boom HTTP/1.1\r\n\r\n",
            b"garbage\r\n\r\n",
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(request)
            await writer.drain()
            replies.append(await reader.read())
            writer.close()
            await writer.wait_closed()
        await server.stop()
        return replies

    replies = asyncio.run(scenario())
    assert [r.split(b" ", 2)[1] for r in replies] == [b"200", b"404", b"405", b"500", b"400"]
    assert replies[0].endswith(b"ok\n")


def test_demo_starts_sink_and_daemon_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    smtp, http = free_port(), free_port()
    configs = write_configs(tmp_path, smtp)
    out = tmp_path / "demo.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILCTL_", "DEMO_"))}
    with out.open("wb") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reconciler.devtools.demo",
                "--configs",
                str(configs),
                "--smtp",
                f"127.0.0.1:{smtp}",
                "--listen",
                f"127.0.0.1:{http}",
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env=env,
        )
    try:
        wait_for(
            "the demo's first reconcile",
            lambda: "every probe passed" in out.read_text(errors="replace"),
            timeout=30,
        )
        assert (tmp_path / ".mailctl" / "sink-ca.pem").exists()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out.read_text(errors="replace")
    assert "demo: stopped" in text and "Traceback" not in text
    assert "demo-only-password" not in text
