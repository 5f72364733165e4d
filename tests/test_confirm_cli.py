"""``mailctl apply``/``probe``/``status`` end to end with OAuth2 and IMAP confirmation.

Real processes against a real token endpoint, a real aiosmtpd XOAUTH2 server that hands
each accepted message to a real Dovecot's Maildir, and the IMAP confirmation reading it
back. Then the outputs, the structured log and the store are searched for the client
secret, every issued token and the IMAP password (and their base64 forms): none may occur.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.fixtures_imap import IMAP_PASSWORD, IMAP_PASSWORD_ENV, DovecotFactory
from tests.fixtures_oauth2 import (
    CLIENT_ID,
    CLIENT_SECRET,
    SCOPE,
    SENDER,
    TokenEndpoint,
    XOAuth2Server,
)
from tests.fixtures_repo import ConfigRepo
from tests.fixtures_smtp import Pki


def host_manifest(server: XOAuth2Server, endpoint: TokenEndpoint, imap_port: int) -> str:
    return f"""\
apiVersion: mailctl/v1
kind: HostMailSettings
spec:
  mode: custom
  smtp:
    host: 127.0.0.1
    port: {server.port}
    tls: starttls
    timeoutMs: 5000
    auth:
      username: {SENDER}
      oauth2:
        tokenUrl: {endpoint.url}
        clientId: {CLIENT_ID}
        clientSecret: {{env: HOST_SMTP_CLIENT_SECRET}}
        scope: {SCOPE}
  from:
    address: {SENDER}
  probe:
    to: probe@contoso.example
    confirm:
      imap: {{host: 127.0.0.1, port: {imap_port}, tls: implicit, username: probe,
             password: {{env: {IMAP_PASSWORD_ENV}}}}}
      withinMs: 10000
"""


ORG = """\
apiVersion: mailctl/v1
kind: OrgMailSettings
metadata:
  name: acme
spec:
  mode: default
"""


def test_apply_probe_status_confirm_delivery_and_never_show_a_secret(
    repo: ConfigRepo,
    tmp_path: Path,
    pki: Pki,
    token_endpoint: Callable[..., TokenEndpoint],
    xoauth2_server: Callable[..., XOAuth2Server],
    dovecot_imap: DovecotFactory,
) -> None:
    imap = dovecot_imap()
    endpoint = token_endpoint()
    server = xoauth2_server(endpoint)
    server.handler.deliver = imap.deliver
    repo.write("host.yaml", host_manifest(server, endpoint, imap.ports["imaps"]))
    repo.write("orgs/acme.yaml", ORG)
    repo.remove("orgs/globex.yaml")  # the fixture's custom org points at no server
    repo.commit("oauth2 and imap confirmation")
    store = tmp_path / "mailctl.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILCTL_", "NO_COLOR"))}
    env.update(
        MAILCTL_STORE=str(store),
        MAILCTL_CA_FILE=pki.ca_file,
        HOST_SMTP_CLIENT_SECRET=CLIENT_SECRET,
        **{IMAP_PASSWORD_ENV: IMAP_PASSWORD},
    )
    outputs: list[str] = []

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "reconciler", *args],
            cwd=repo.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        outputs.extend([proc.stdout, proc.stderr])
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    applied = cli("apply", "--format", "json", "--log-format", "json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    (outcome,) = json.loads(applied.stdout)["probes"]
    assert outcome["status"] == "passed", outcome
    assert (outcome["stage"], outcome["delivery"]) == ("confirm", "delivered")
    assert isinstance(outcome["deliveryMs"], float)
    assert sorted(outcome["scopes"]) == ["host", "org/acme", "org/umbrella"]
    assert '"delivery": "delivered"' in applied.stderr  # the probe.passed log event

    probed = cli("probe", "--format", "json")
    assert probed.returncode == 0, probed.stdout + probed.stderr
    assert json.loads(probed.stdout)["results"][0]["delivery"] == "delivered"

    status = cli("status", "--format", "json")
    assert status.returncode == 0
    scopes = {s["scope"]: s for s in json.loads(status.stdout)["scopes"]}
    assert scopes["org/acme"]["probe"]["delivery"] == "delivered"
    assert scopes["host"]["probe"]["deliveryMs"] is not None
    text = cli("status")
    assert "passed (delivered" in text.stdout

    assert endpoint.requests == 2  # one token per process (apply, probe): cached within each
    assert len(server.handler.recorder.messages) == 2
    # Both probe messages were found and expunged (the mailbox is shared by the session).
    probe_ids = {outcome["probe_id"], json.loads(probed.stdout)["results"][0]["probe_id"]}
    left = [p for p in imap.files() for i in probe_ids if i in p.read_text(errors="replace")]
    assert left == []

    secrets = [CLIENT_SECRET, IMAP_PASSWORD, *endpoint.issued]
    needles = set(secrets) | {base64.b64encode(s.encode()).decode() for s in secrets}
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("mailctl.db*"))
    for needle in needles:
        assert all(needle not in out for out in outputs), needle[:6]
        assert needle.encode() not in stored, needle[:6]
