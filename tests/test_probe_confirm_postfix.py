"""Delivery confirmation against real Postfix delivering into a real Dovecot IMAP mailbox.

One Postfix instance (``tests.fixtures_postfix``), three SMTP listeners that differ only in
what Postfix does with the accepted message, all for ``probe@example.test`` (a real local
user, ``~probe/Maildir``):

- ``inbox``: ordinary local delivery into the Maildir;
- ``junk``: a ``cleanup`` clone whose ``header_checks`` rule REDIRECTs the probe message to
  ``probe+junk@example.test``; Postfix's local delivery then follows ``~probe/.forward+junk``
  into the Maildir++ folder ``.Junk`` (the mailbox Dovecot marks ``\\Junk``);
- ``drop``: a ``cleanup`` clone whose rule DISCARDs it: accepted with 250, never delivered.

Dovecot serves that Maildir over IMAPS/STARTTLS as the user ``probe``; certificates of
both servers come from one CA, given to the probe as ``--ca-file``.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.model import Confirm, Effective, Sender, SmtpSettings
from reconciler.probe import ProbeResult, ProbeTarget, probe_outcomes
from tests.fixtures_imap import IMAP_PASSWORD, DovecotImap, start_dovecot_imap
from tests.fixtures_postfix import (
    LOOPBACK,
    PostfixFactory,
    PostfixInstance,
    PostfixPki,
    PostfixSpec,
    Smtpd,
)

TLS = {"smtpd_tls_security_level": "may"}
SPEC = PostfixSpec(
    services=(
        Smtpd("inbox", TLS),
        Smtpd("junk", {**TLS, "cleanup_service_name": "cleanup_junk"}),
        Smtpd("drop", {**TLS, "cleanup_service_name": "cleanup_drop"}),
    ),
    main_cf=("recipient_delimiter = +",),
    maps={
        "junk_checks": "/^X-Mailctl-Probe:/ REDIRECT probe+junk@example.test\n",
        "drop_checks": "/^X-Mailctl-Probe:/ DISCARD dropped by the test's header rule\n",
    },
    extra_master=(
        "cleanup_junk unix n - n - 0 cleanup\n  -o header_checks=regexp:{config}/junk_checks",
        "cleanup_drop unix n - n - 0 cleanup\n  -o header_checks=regexp:{config}/drop_checks",
    ),
)


@pytest.fixture(scope="module")
def postfix(postfix_factory: PostfixFactory) -> PostfixInstance:
    instance = postfix_factory(SPEC)
    home = instance.home("probe")
    account = pwd.getpwnam("probe")
    forward = home / ".forward+junk"
    forward.write_text(f"{home}/Maildir/.Junk/\n")
    os.chown(forward, account.pw_uid, account.pw_gid)
    os.chmod(forward, 0o644)
    return instance


@pytest.fixture(scope="module")
def imap(postfix: PostfixInstance, postfix_pki: PostfixPki) -> Iterator[DovecotImap]:
    server = start_dovecot_imap(
        postfix_pki.chains["good"],
        postfix_pki.ca_file,
        home=postfix.home("probe"),
        uid="probe",
    )
    yield server
    server.stop()


def settings(postfix: PostfixInstance, service: str, confirm: Confirm) -> Effective:
    return Effective(
        smtp=SmtpSettings(
            host=LOOPBACK, port=postfix.ports[service], tls="starttls", timeout_ms=10_000
        ),
        sender=Sender("notify@example.test", "Platform Notifications"),
        probe_to="probe@example.test",
        confirm=confirm,
    )


def run(
    postfix: PostfixInstance,
    imap: DovecotImap,
    service: str,
    *,
    tls: str = "implicit",
    within_ms: int = 20_000,
    password: str = IMAP_PASSWORD,
) -> ProbeResult:
    confirm = Confirm(imap=imap.confirm(tls), within_ms=within_ms)
    target = ProbeTarget(
        f"org/{service}", settings(postfix, service, confirm), None, confirm_password=password
    )
    (outcome,) = asyncio.run(probe_outcomes([target], ca_file=imap.ca_file))
    return outcome.result


def holding(imap: DovecotImap, probe_id: str) -> list[Path]:
    """Message files anywhere in the Maildir (INBOX and Junk) that carry ``probe_id``."""
    found = []
    for junk in (False, True):
        for path in imap.files(junk):
            if f"X-Mailctl-Probe: {probe_id}" in path.read_text(errors="replace"):
                found.append(path)
    return found


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_delivered_to_the_inbox_then_removed(
    postfix: PostfixInstance, imap: DovecotImap, tls: str
) -> None:
    result = run(postfix, imap, "inbox", tls=tls)
    assert (result.status, result.stage, result.delivery) == ("passed", "confirm", "delivered")
    assert result.delivery_ms is not None and result.delivery_ms < 20_000
    assert "INBOX" in result.message
    assert holding(imap, result.probe_id) == []


def test_filed_into_junk_by_a_header_rule_is_delivered_junk(
    postfix: PostfixInstance, imap: DovecotImap
) -> None:
    result = run(postfix, imap, "junk")
    assert (result.status, result.delivery) == ("passed", "delivered_junk"), result
    assert "Junk" in result.message and result.hint is not None
    assert holding(imap, result.probe_id) == []


def test_accepted_then_discarded_is_not_delivered_after_within_ms(
    postfix: PostfixInstance, imap: DovecotImap
) -> None:
    mark = postfix.log_mark()
    result = run(postfix, imap, "drop", within_ms=3000)
    assert result.sent and result.code == 250  # Postfix accepted it ...
    assert (result.status, result.stage) == ("failed", "confirm")
    assert (result.failure_class, result.delivery) == ("not_delivered", "not_delivered")
    assert result.latency_ms["confirm"] >= 3000
    # ... and its log says the header rule discarded it.
    assert "discard" in postfix.wait_for_log(r"dropped by the test's header rule", since=mark)


def test_wrong_imap_password_is_confirm_auth_rejected(
    postfix: PostfixInstance, imap: DovecotImap
) -> None:
    result = run(postfix, imap, "inbox", password="not-the-imap-password")
    assert (result.status, result.stage) == ("failed", "confirm")
    assert result.failure_class == "confirm_auth_rejected"
    assert result.delivery is None
    assert "not-the-imap-password" not in result.message
    assert result.hint is not None and "probe.confirm.imap.password" in result.hint
    # Delivered all the same: without a login nothing could remove it.
    deadline = time.monotonic() + 10
    while not holding(imap, result.probe_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    leftover = holding(imap, result.probe_id)
    assert len(leftover) == 1
    leftover[0].unlink()
