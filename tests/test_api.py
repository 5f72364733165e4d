"""The read API (DESIGN §12) on a real ``mailctl daemon`` process with a real sink: what it
returns, that no secret value ever leaves it, and the bearer token off loopback.

Off loopback: the daemon is bound to a non-loopback address of this machine (the source
address of its default route, found without sending a packet); a machine with no such
address skips that test with the reason. ``0.0.0.0`` is refused without a token.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from reconciler import conditions as cond
from tests.fixtures_daemon import (
    SECRET_ENV,
    DaemonProc,
    SinkProc,
    StartDaemon,
    atomic_write,
    custom_org,
    free_port,
    wait_for,
    write_configs,
)
from tests.realservers import unavailable


def _get(url: str, token: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(url)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status), resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read(), dict(exc.headers)
    except OSError:
        return 0, b"", {}


def _json(d: DaemonProc, path: str) -> dict[str, Any]:
    code, body = d.get(path)
    assert code == 200, (path, code, body[:300])
    data: dict[str, Any] = json.loads(body)
    return data


def _settled(d: DaemonProc) -> bool:
    return all(r.probe is not None for r in d.scopes().values())


def test_read_api_lists_filters_and_details_without_secret_values(
    tmp_path: Path, sink: SinkProc, start_daemon: StartDaemon
) -> None:
    configs = write_configs(tmp_path, sink.port)
    refused = free_port()  # nothing listens there: a failed probe, class connect_refused
    (configs / "orgs" / "deadend.yaml").write_text(custom_org("deadend", refused))
    d = start_daemon(configs)
    wait_for("every probe stored", lambda: _settled(d), timeout=15)

    summary = _json(d, "/v1/summary")
    status = _json(d, "/status")
    assert summary["total"] == len(status["scopes"]) == 6
    ready = sum(cond.is_ready(s["conditions"]) for s in status["scopes"])
    assert summary["counts"]["ready"] == ready == 5
    assert summary["counts"]["probeFailed"] == 1 and summary["classes"] == {"connect_refused": 1}
    assert summary["latency"]["probes"] >= 2 and summary["lastReconcile"]["result"] == "success"
    assert summary["revision"] == "test-rev" and summary["suspended"] is False

    page = _json(d, "/v1/scopes?q=GLOB")
    assert [i["scope"] for i in page["items"]] == ["org/globex"] and page["total"] == 1
    failed = _json(d, "/v1/scopes?condition=probe_failed")["items"]
    assert [(i["scope"], i["probe"]["class"], i["probe"]["stage"]) for i in failed] == [
        ("org/deadend", "connect_refused", "connect")
    ]
    assert _json(d, "/v1/scopes?class=connect_refused")["total"] == 1
    worst = _json(d, "/v1/scopes?sort=condition&limit=2")
    assert worst["items"][0]["scope"] == "org/deadend" and worst["next"] == 2
    second = _json(d, "/v1/scopes?limit=2&offset=4")
    assert [i["scope"] for i in second["items"]] == ["org/initech", "org/umbrella"]
    assert second["next"] is None

    detail = _json(d, "/v1/scopes/org/initech")
    settings = {s["field"]: s for s in detail["settings"]}
    assert settings["smtp.auth.password"] == {
        "field": "smtp.auth.password",
        "value": f"env:{SECRET_ENV}",
        "source": "org",
        "secret": True,
    }
    assert settings["smtp.host"]["source"] == "org"
    assert detail["conditions"]["Ready"]["status"] == "True"
    probe = detail["probes"][0]
    assert probe["status"] == "passed" and probe["latency_ms"]["connect"] >= 0
    assert set(probe["latency_ms"]) >= {"connect", "ehlo", "starttls", "auth", "data"}
    inherited = {s["field"]: s["source"] for s in _json(d, "/v1/scopes/org/acme")["settings"]}
    assert inherited["smtp.host"] == "host"
    assert _json(d, "/v1/scopes/org%2Fdeadend")["probes"][0]["class"] == "connect_refused"

    # History with field-level changes after an edit.
    atomic_write(configs / "orgs" / "globex.yaml", custom_org("globex", sink.port, "Edited"))
    wait_for("globex edited", lambda: d.display_name("org/globex") == "Edited", timeout=5)
    history = _json(d, "/v1/scopes/org/globex")["history"]
    assert history[0]["changes"] == [
        {
            "field": "from.displayName",
            "before": "Alerts",
            "after": "Edited",
            "sourceBefore": "org",
            "sourceAfter": "org",
            "secret": False,
        }
    ]
    assert len(history) == 2 and history[1]["kind"] == "apply"
    # A host change cascades: an inheriting org's entry holds its own field changes
    # (source host), and counts every scope the entry touched.
    host = (configs / "host.yaml").read_text()
    atomic_write(configs / "host.yaml", host.replace("Platform Notifications", "Ops <Mail>"))
    wait_for("host edited", lambda: d.display_name("org/acme") == "Ops <Mail>", timeout=5)
    cascade = _json(d, "/v1/scopes/org/acme")["history"][0]
    assert cascade["scopesTouched"] == 3  # host, acme, umbrella (the others are custom)
    assert cascade["changes"] == [
        {
            "field": "from.displayName",
            "before": "Platform Notifications",
            "after": "Ops <Mail>",
            "sourceBefore": "host",
            "sourceAfter": "host",
            "secret": False,
        }
    ]

    # Errors: one JSON line with a hint.
    assert d.get("/v1/scopes/org/nope")[0] == 404
    for bad in ("sort=colour", "limit=0", "limit=x", "condition=happy", "offset=-1"):
        code, body = d.get(f"/v1/scopes?{bad}")
        assert code == 400 and json.loads(body)["error"], bad

    # Canary: the secret value is in no response, whatever was asked.
    paths = ["/status", "/metrics", "/v1/summary", "/v1/scopes?limit=500", "/ui/", "/ui/app.js"]
    paths += [f"/v1/scopes/{s['scope']}" for s in status["scopes"]]
    for path in paths:
        code, body = d.get(path)
        assert code == 200, path
        assert sink.secret.encode() not in body, path


def test_scopes_a_target_could_not_sync_are_counted_and_explained(
    tmp_path: Path, sink: SinkProc, start_daemon: StartDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", "hook-secret-" + "5" * 16)
    configs = write_configs(tmp_path, sink.port)
    (configs / "hook.yaml").write_text(  # a webhook target nobody listens for
        "apiVersion: mailctl/v1\nkind: WebhookTarget\nmetadata: {name: hook}\n"
        f"spec:\n  url: http://127.0.0.1:{free_port()}/hook\n  secret: {{env: HOOK_SECRET}}\n"
    )
    d = start_daemon(configs)

    def not_synced() -> dict[str, Any] | None:
        summary = _json(d, "/v1/summary")
        return summary if summary["counts"]["notSynced"] == 5 else None

    summary = wait_for("5 scopes not synced", not_synced, timeout=15)
    assert summary["counts"]["ready"] == 0
    page = _json(d, "/v1/scopes?condition=not_synced&limit=1")
    assert page["total"] == 5 and page["items"][0]["synced"] is False
    conditions = _json(d, "/v1/scopes/org/acme")["conditions"]
    assert conditions["Synced/hook"]["status"] == "False"
    assert conditions["Ready"]["status"] == "False"
    statuses = _json(d, "/status")["scopes"]
    assert sum(s["conditions"]["Synced/hook"]["status"] == "False" for s in statuses) == 5
    for path in ("/v1/summary", "/v1/scopes", "/v1/scopes/org/acme"):
        assert b"hook-secret-" not in d.get(path)[1]


def _non_loopback_address() -> str:
    """This machine's source address towards the outside (no packet is sent)."""
    for target in ("192.0.2.1", "10.255.255.255", "198.51.100.1"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.connect((target, 9))
            except OSError:
                continue
            address = str(sock.getsockname()[0])
            if not address.startswith("127.") and address != "0.0.0.0":
                return address
    unavailable("MAILCTL_REQUIRE_NETWORK", "this machine has no non-loopback IPv4 address")


def test_off_loopback_every_endpoint_but_health_needs_the_token(
    tmp_path: Path, sink: SinkProc, start_daemon: StartDaemon
) -> None:
    address = _non_loopback_address()
    token = "tok-" + "9f3a" * 8
    token_file = tmp_path / "api-token"
    token_file.write_text(token + "\n")
    port = free_port()
    configs = write_configs(tmp_path, sink.port)
    d = start_daemon(
        configs,
        wait_ready=False,
        extra=("--listen", f"{address}:{port}", "--api-token-file", str(token_file)),
    )
    base = f"http://{address}:{port}"
    wait_for("/readyz 200", lambda: _get(base + "/readyz")[0] == 200, timeout=15)
    assert _get(base + "/healthz")[0] == 200
    guarded = ["/status", "/metrics", "/v1/summary", "/v1/scopes", "/v1/scopes/host", "/ui/"]
    for path in guarded:
        code, body, headers = _get(base + path)
        assert code == 401, path
        assert headers.get("WWW-Authenticate") == 'Bearer realm="mailctl"'
        assert _get(base + path, token="tok-" + "0" * 32)[0] == 401, path
        assert _get(base + path, token=token)[0] == 200, path
        assert token.encode() not in body
    # Off loopback the Host guard is the token's job: any Host with the token works.
    assert json.loads(_get(base + "/v1/summary", token=token)[1])["total"] == 5
    assert token not in d.output()


def test_refuses_to_listen_off_loopback_without_a_token(tmp_path: Path, sink: SinkProc) -> None:
    configs = write_configs(tmp_path, sink.port)
    base = [sys.executable, "-m", "reconciler", "daemon", "--configs", str(configs)]
    base += ["--store", str(tmp_path / "s.db")]
    proc = subprocess.run(
        [*base, "--listen", f"0.0.0.0:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode != 0
    assert "is not a loopback address" in proc.stderr and "--api-token-file" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "s.db").exists()
    short = tmp_path / "short"
    short.write_text("abc")
    proc = subprocess.run(
        [*base, "--listen", f"0.0.0.0:{free_port()}", "--api-token-file", str(short)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode != 0 and "at least 16" in proc.stderr
    assert "Traceback" not in proc.stderr
