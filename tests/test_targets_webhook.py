"""WebhookTarget: a real receiver on loopback verifies each document's signature (the
recipe of docs/targets.md) and sees one document per change, secret references only."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.fixtures_targets import GLOBEX_PASSWORD, HOST_PASSWORD, TargetRig, host_yaml

HOOK_SECRET = "hook-Shared.Key~Canary-55e1"


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """The consumer's check, as docs/targets.md shows it."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)


@dataclass
class Receiver:
    port: int = 0
    documents: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/mailctl"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            ok = verify(HOOK_SECRET, body, self.headers.get("X-Mailctl-Signature"))
            with state.lock:
                if ok:
                    state.documents.append(json.loads(body))
                else:
                    state.rejected += 1
            self.send_response(204 if ok else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def hooked(rig: TargetRig, receiver: Receiver) -> TargetRig:
    rig.repo.remove("targets/prod.yaml")
    rig.repo.write(
        "targets/hook.yaml",
        "apiVersion: mailctl/v1\nkind: WebhookTarget\nmetadata: {name: hook}\n"
        f"spec:\n  url: {receiver.url}\n  secret: {{env: HOOK_SECRET}}\n",
    )
    rig.env["HOOK_SECRET"] = HOOK_SECRET
    return rig


def test_each_scope_arrives_signed_once_with_secret_references_only(
    hooked: TargetRig, receiver: Receiver
) -> None:
    hooked.apply()
    assert receiver.rejected == 0
    by_scope = {d["scope"]: d for d in receiver.documents}
    assert sorted(by_scope) == ["host", "org/acme", "org/globex", "org/umbrella"]
    assert len(receiver.documents) == 4
    host = by_scope["host"]
    assert host["format_version"] == "1.0"
    assert host["settings"]["smtp.auth.password"] == "env:HOST_SMTP_PASSWORD"
    assert host["settings"]["smtp.host"] == "smtp.provider.example"
    assert host["fingerprint"] and host["revision"]
    raw = json.dumps(receiver.documents)
    assert HOST_PASSWORD not in raw and GLOBEX_PASSWORD not in raw and HOOK_SECRET not in raw
    _, status = hooked.status()
    assert all(s["conditions"]["Synced/hook"]["status"] == "True" for s in status["scopes"])


def test_one_document_per_change(hooked: TargetRig, receiver: Receiver) -> None:
    hooked.apply()
    receiver.documents.clear()
    hooked.apply()
    assert receiver.documents == []  # nothing changed: nothing sent
    hooked.repo.write("host.yaml", host_yaml(host="smtp2.provider.example"))
    hooked.apply()
    assert sorted(d["scope"] for d in receiver.documents) == ["host", "org/acme", "org/umbrella"]
    receiver.documents.clear()
    hooked.env["HOST_SMTP_PASSWORD"] = "host-Rotated.Canary~hook"
    hooked.apply()
    # a rotation changes the fingerprint, not the settings: the scopes using it are sent
    assert sorted(d["scope"] for d in receiver.documents) == ["host", "org/acme", "org/umbrella"]


def test_a_wrong_key_is_refused_by_the_receiver_and_reported(
    hooked: TargetRig, receiver: Receiver
) -> None:
    hooked.env["HOOK_SECRET"] = "not-the-shared-key"
    out = hooked.apply(expect=3)
    assert receiver.rejected == 4 and receiver.documents == []
    failed = out["targets"]["targets"][0]["failed"]
    assert {f["reason"] for f in failed} == {"Unauthorized"}
