"""``reconciler.probe.confirm``: delivery confirmation over IMAP (real Dovecot) and Maildir.

Messages reach the mailbox the way a local delivery agent puts them there (written into
the Maildir that Dovecot serves) or through the real SMTP sink (``reconciler.devtools.sink``);
the Postfix-delivered cases live in ``test_probe_confirm_postfix.py``.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from pathlib import Path

import pytest

from reconciler.devtools.sink import Sink, SinkConfig
from reconciler.model import Confirm, Effective, Sender, SmtpSettings
from reconciler.probe import ProbeTarget, new_probe_id, probe_outcomes
from reconciler.probe.confirm import Confirmation, confirm_delivery
from tests.fixtures_imap import IMAP_PASSWORD, DovecotFactory, DovecotImap
from tests.fixtures_smtp import LOOPBACK, Pki, free_port


def message(probe_id: str, subject: str = "mailctl probe host") -> bytes:
    return (
        f"From: notify@example.test\r\nTo: probe@example.test\r\n"
        f"Subject: {subject} {probe_id}\r\nX-Mailctl-Probe: {probe_id}\r\n\r\nbody\r\n"
    ).encode()


def confirm(
    imap: DovecotImap,
    probe_id: str,
    *,
    tls: str = "implicit",
    within_ms: int = 3000,
    password: str = IMAP_PASSWORD,
    junk: str | None = None,
    mailbox: str = "INBOX",
    ca_file: str | None = None,
) -> Confirmation:
    cfg = Confirm(imap=imap.confirm(tls, junk=junk, mailbox=mailbox), within_ms=within_ms)
    return asyncio.run(
        confirm_delivery(cfg, probe_id, password=password, ca_file=ca_file or imap.ca_file)
    )


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_imap_finds_the_message_in_the_inbox_and_expunges_it(
    dovecot_imap: DovecotFactory, tls: str
) -> None:
    imap = dovecot_imap()
    probe_id = new_probe_id()
    other = imap.deliver(message("not-" + probe_id))
    mine = imap.deliver(message(probe_id))
    outcome = confirm(imap, probe_id, tls=tls)
    assert (outcome.delivery, outcome.failure) == ("delivered", None)
    assert outcome.removed and outcome.delivery_ms is not None
    assert "INBOX" in outcome.where
    present = {p.name.split(":")[0] for p in imap.files()}
    assert mine.name not in present  # expunged: the file is gone
    assert other.name in present  # nothing else touched


@pytest.mark.parametrize("junk", [None, "Junk"], ids=["special-use", "named"])
def test_imap_message_in_junk_is_delivered_junk(
    dovecot_imap: DovecotFactory, junk: str | None
) -> None:
    imap = dovecot_imap()
    probe_id = new_probe_id()
    imap.deliver(message(probe_id), junk=True)
    outcome = confirm(imap, probe_id, junk=junk)
    assert outcome.delivery == "delivered_junk"
    assert "Junk" in outcome.where
    assert not [p for p in imap.files(junk=True) if probe_id in p.read_text()]


def test_imap_message_arriving_later_is_waited_for(dovecot_imap: DovecotFactory) -> None:
    imap = dovecot_imap()
    probe_id = new_probe_id()
    timer = threading.Timer(1.0, imap.deliver, args=(message(probe_id),))
    timer.start()
    try:
        outcome = confirm(imap, probe_id, within_ms=10_000)
    finally:
        timer.join()
    assert outcome.delivery == "delivered"
    assert outcome.delivery_ms is not None and 1000 <= outcome.delivery_ms < 5000


def test_imap_nothing_arrives_is_not_delivered_after_within_ms(
    dovecot_imap: DovecotFactory,
) -> None:
    imap = dovecot_imap()
    imap.deliver(message("someone-else"))
    started = time.monotonic()
    outcome = confirm(imap, new_probe_id(), within_ms=1500)
    waited = time.monotonic() - started
    assert (outcome.delivery, outcome.failure, outcome.removed) == ("not_delivered", None, False)
    assert 1.4 <= waited < 5.0


@pytest.mark.parametrize(
    ("case", "failure_class", "fragment"),
    [
        ("wrong-password", "confirm_auth_rejected", "AUTHENTICATIONFAILED"),
        ("wrong-user", "confirm_auth_rejected", "login rejected"),
        ("no-mailbox", "confirm_mailbox", "Archive/Probe"),
        ("closed-port", "connect_refused", "refused"),
        ("untrusted-ca", "tls_certificate", "certificate verify failed"),
    ],
)
def test_imap_errors_have_clear_classes(
    dovecot_imap: DovecotFactory,
    pki: Pki,
    tmp_path: Path,
    case: str,
    failure_class: str,
    fragment: str,
) -> None:
    imap = dovecot_imap()
    probe_id = new_probe_id()
    cfg = imap.confirm()
    password = IMAP_PASSWORD
    ca_file = imap.ca_file
    if case == "wrong-password":
        password = "not-the-password"
    elif case == "wrong-user":
        cfg = imap.confirm(username="nobody-here")
    elif case == "no-mailbox":
        cfg = imap.confirm(mailbox="Archive/Probe")
    elif case == "closed-port":
        from dataclasses import replace

        cfg = replace(cfg, port=free_port())
    else:
        other = tmp_path / "other-ca.pem"
        import trustme

        trustme.CA().cert_pem.write_to_path(str(other))
        ca_file = str(other)
    outcome = asyncio.run(
        confirm_delivery(
            Confirm(imap=cfg, within_ms=2000), probe_id, password=password, ca_file=ca_file
        )
    )
    assert outcome.delivery is None and outcome.failure is not None
    assert outcome.failure.failure_class == failure_class
    assert fragment in outcome.failure.message
    assert password not in outcome.failure.message


def test_cancelled_confirmation_returns_promptly(dovecot_imap: DovecotFactory) -> None:
    imap = dovecot_imap()

    async def run() -> float:
        cfg = Confirm(imap=imap.confirm(), within_ms=60_000)
        task = asyncio.create_task(
            confirm_delivery(cfg, new_probe_id(), password=IMAP_PASSWORD, ca_file=imap.ca_file)
        )
        await asyncio.sleep(1.0)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    assert asyncio.run(run()) < 2.0


# -- maildir, with the real sink ------------------------------------------------------


def sink_settings(port: int, maildir: Path, within_ms: int = 5000) -> Effective:
    return Effective(
        smtp=SmtpSettings(host=LOOPBACK, port=port, tls="none", timeout_ms=5000),
        sender=Sender("notify@example.test"),
        probe_to="probe@example.test",
        confirm=Confirm(maildir=str(maildir), within_ms=within_ms),
    )


def test_probe_confirms_delivery_through_the_sink_maildir(tmp_path: Path) -> None:
    maildir = tmp_path / "maildir"
    cfg = SinkConfig(port=free_port(), maildir=str(maildir))
    with Sink(cfg, out=io.StringIO()) as sink:
        targets = [ProbeTarget("host", sink_settings(sink.port, maildir), None)]
        (outcome,) = asyncio.run(probe_outcomes(targets))
        assert sink.received == 1
    result = outcome.result
    assert (result.status, result.stage, result.delivery) == ("passed", "confirm", "delivered")
    assert result.delivery_ms is not None and result.delivery_ms < 5000
    assert "confirm" in result.latency_ms
    payload = result.to_dict()
    assert payload["delivery"] == "delivered" and payload["deliveryMs"] == result.delivery_ms
    assert list((maildir / "new").iterdir()) == []  # removed after confirmation


def test_probe_with_a_mailbox_that_never_gets_the_message_fails_not_delivered(
    tmp_path: Path,
) -> None:
    maildir, elsewhere = tmp_path / "maildir", tmp_path / "elsewhere"
    cfg = SinkConfig(port=free_port(), maildir=str(maildir))
    with Sink(cfg, out=io.StringIO()) as sink:
        targets = [ProbeTarget("host", sink_settings(sink.port, elsewhere, 1000), None)]
        (outcome,) = asyncio.run(probe_outcomes(targets))
    result = outcome.result
    assert (result.status, result.stage) == ("failed", "confirm")
    assert (result.failure_class, result.delivery) == ("not_delivered", "not_delivered")
    assert result.sent and result.hint is not None and "withinMs" in result.hint
    assert str(elsewhere) in result.message


def test_maildir_junk_folder_is_delivered_junk(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (root / ".Junk" / sub).mkdir(parents=True)
    probe_id = new_probe_id()
    (root / ".Junk" / "new" / "1.x").write_bytes(message(probe_id))
    outcome = asyncio.run(confirm_delivery(Confirm(maildir=str(root), within_ms=1000), probe_id))
    assert outcome.delivery == "delivered_junk"
    assert list((root / ".Junk" / "new").iterdir()) == []


def test_unresolved_imap_password_fails_at_confirm_without_connecting() -> None:
    from reconciler.model import ImapConfirm, SecretRef
    from reconciler.probe.confirm import confirm_result
    from reconciler.probe.result import ProbeResult

    passed = ProbeResult(
        "passed", "quit", None, 250, "sent", None, {}, "abc", "now", "x:1 none", True
    )
    cfg = Confirm(imap=ImapConfirm("127.0.0.1", free_port(), "u", SecretRef(env="NOPE")))
    result = asyncio.run(
        confirm_result(
            passed, cfg, password=None, password_error="environment variable NOPE is not set"
        )
    )
    assert (result.status, result.stage, result.failure_class) == (
        "failed",
        "confirm",
        "secret_unresolved",
    )
    assert "NOPE" in result.message


@pytest.mark.parametrize(
    ("env", "rules"), [("HOST_PROBE_IMAP_PASSWORD", ["secret.scope"]), ("ACME_IMAP_PASSWORD", [])]
)
def test_an_org_imap_password_is_tenant_scoped(tmp_path: Path, env: str, rules: list[str]) -> None:
    from reconciler.validate import validate_paths

    org = tmp_path / "acme.yaml"
    org.write_text(
        "apiVersion: mailctl/v1\nkind: OrgMailSettings\nmetadata:\n  name: acme\nspec:\n"
        "  mode: default\n  probe:\n    to: p@acme.example\n    confirm:\n"
        "      imap: {host: imap.acme.example, port: 993, username: p,\n"
        f"             password: {{env: {env}}}}}\n"
    )
    diagnostics = validate_paths([org], require_host=False).result.diagnostics
    assert [d.rule for d in diagnostics] == rules
    assert all(d.path == "$.spec.probe.confirm.imap.password.env" for d in diagnostics)


# -- what makes probes identical, and how results are reported ---------------------------


def test_confirmation_and_oauth2_client_are_part_of_the_dedupe_key(tmp_path: Path) -> None:
    from dataclasses import replace

    from reconciler.model import Auth, OAuth2, SecretRef
    from reconciler.probe import dedupe_key

    base = sink_settings(2525, tmp_path / "a")
    oauth = OAuth2("https://login.example/t", "client-a", "s")
    with_auth = replace(base, smtp=replace(base.smtp, auth=Auth("u", SecretRef(env="X"), oauth)))
    variants = [
        base,
        replace(base, confirm=None),
        replace(base, confirm=Confirm(maildir=str(tmp_path / "b"), within_ms=5000)),
        replace(base, confirm=Confirm(maildir=str(tmp_path / "a"), within_ms=6000)),
        with_auth,
        replace(
            with_auth,
            smtp=replace(
                with_auth.smtp, auth=Auth("u", SecretRef(env="X"), replace(oauth, client_id="b"))
            ),
        ),
        replace(
            with_auth,
            smtp=replace(
                with_auth.smtp, auth=Auth("u", SecretRef(env="X"), replace(oauth, scope="t"))
            ),
        ),
    ]
    keys = {dedupe_key(ProbeTarget("host", s, "pw")) for s in variants}
    assert len(keys) == len(variants)
    same = {dedupe_key(ProbeTarget(scope, base, None)) for scope in ("host", "org/a", "org/b")}
    assert len(same) == 1


def test_metrics_count_deliveries_and_observe_latency() -> None:
    from reconciler.daemon.metrics import DaemonMetrics

    metrics = DaemonMetrics()
    metrics.observe_probes(
        [
            {"status": "passed", "stage": "confirm", "delivery": "delivered", "deliveryMs": 420.0},
            {
                "status": "passed",
                "stage": "confirm",
                "delivery": "delivered_junk",
                "deliveryMs": 3000.0,
            },
            {
                "status": "failed",
                "stage": "confirm",
                "delivery": "not_delivered",
                "deliveryMs": None,
            },
            {"status": "passed", "stage": "quit"},
        ]
    )
    text = metrics.render()[0].decode()
    assert 'mailctl_probe_delivery_total{delivery="delivered"} 1.0' in text
    assert 'mailctl_probe_delivery_total{delivery="delivered_junk"} 1.0' in text
    assert 'mailctl_probe_delivery_total{delivery="not_delivered"} 1.0' in text
    assert "mailctl_probe_delivery_seconds_count 2.0" in text
    assert 'mailctl_probe_delivery_seconds_bucket{le="0.5"} 1.0' in text


def test_status_text_shows_delivery_and_its_latency() -> None:
    from reconciler.reporters.status import render_status

    probe = {"status": "passed", "stage": "confirm", "class": None, "delivery": "delivered_junk"}
    payload = {
        "revision": "r1",
        "suspended": False,
        "scopes": [
            {
                "scope": "host",
                "mode": "custom",
                "source": "configs/host.yaml",
                "lastAppliedRevision": "r1",
                "conditions": {"Ready": {"status": "True", "reason": "ProbePassed"}},
                "probe": {**probe, "deliveryMs": 12_345.0},
            }
        ],
    }
    assert "passed (delivered_junk 12.3 s)" in render_status(payload, color=False)
