"""The probe against a real Postfix (Dovecot SASL) on loopback, swaks's verdict beside it.

One Postfix instance per module serves every case, one ``smtpd`` port per behaviour.
Each case asserts the probe's class, stage and SMTP code, and that swaks, run with the
same settings, agrees whether the dialogue fails.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
import re
import subprocess
import time
from dataclasses import dataclass

import pytest

from reconciler.model import Auth, Effective, SecretRef, Sender, SmtpSettings
from reconciler.probe import ProbeResult, probe
from reconciler.probe.engine import default_ehlo_name
from reconciler.probe.message import wire_address
from tests import manifests
from tests.fixtures_cli import Mailctl
from tests.fixtures_postfix import (
    FLAG,
    LOCAL_DOMAIN,
    LOOPBACK,
    PostfixFactory,
    PostfixInstance,
    PostfixSpec,
    Smtpd,
)
from tests.fixtures_repo import ConfigRepo
from tests.realservers import require_program

USER = "notify@example.test"
PASSWORD = "interop-Secret-42"
OTHER_SENDER = "someone-else@example.test"
RCPT = "probe@example.test"
IDN_RCPT = "probe@exämple.test"  # delivered locally: its A-label is in mydestination
DISPLAY_NAME = "Interop Pröbe"

_SUBMISSION = {
    "smtpd_tls_security_level": "encrypt",
    "smtpd_sasl_auth_enable": "yes",
    "smtpd_tls_auth_only": "yes",
    "smtpd_sender_login_maps": "texthash:{config}/sender_logins",
    "smtpd_sender_restrictions": "reject_sender_login_mismatch",
    "smtpd_relay_restrictions": "permit_sasl_authenticated,reject_unauth_destination",
}
_MX = {"smtpd_tls_security_level": "may"}  # port-25 style: STARTTLS offered, no AUTH
_RCPT_ACCESS = "check_recipient_access,texthash:{config}/rcpt_access"

SPEC = PostfixSpec(
    services=(
        Smtpd("submission", _SUBMISSION),
        Smtpd("submission_nodelay", {**_SUBMISSION, "smtpd_delay_reject": "no"}),
        Smtpd("smtps", _SUBMISSION, wrappermode=True),
        Smtpd("mx", _MX),
        Smtpd(
            "cleartext",  # no STARTTLS, but AUTH offered in clear: the probe must not use it
            {"smtpd_tls_security_level": "none", "smtpd_sasl_auth_enable": "yes"},
        ),
        Smtpd("untrusted", _SUBMISSION, cert="unknown_ca"),
        Smtpd("wronghost", _SUBMISSION, cert="wrong_host"),
        Smtpd(
            "helo",
            {
                **_MX,
                "smtpd_helo_required": "yes",
                # The WARN map logs every EHLO name (helo=<...>) before the real check.
                "smtpd_helo_restrictions": "check_helo_access,regexp:{config}/helo_log,"
                "reject_non_fqdn_helo_hostname",
            },
        ),
        Smtpd("small", {**_MX, "message_size_limit": "300"}),
        Smtpd("filtered", {**_MX, "cleanup_service_name": "hcleanup"}),
        Smtpd(
            "access",
            {**_MX, "smtpd_recipient_restrictions": _RCPT_ACCESS},
        ),
        Smtpd("blocked", {**_MX, "smtpd_client_restrictions": "reject"}),
        Smtpd("noutf8", {**_MX, "smtputf8_enable": "no"}),
    ),
    users={USER: PASSWORD},
    main_cf=(
        f"mydestination = {LOCAL_DOMAIN}, localhost, xn--exmple-cua.test",
        # A bare LF or CR in the probe message would be refused: proves CRLF-only on the wire.
        "smtpd_forbid_bare_newline = reject",
        "smtpd_forbid_bare_newline_exclusions =",
    ),
    maps={
        "sender_logins": f"{USER} {USER}\n{OTHER_SENDER} other@example.test\n",
        "rcpt_access": (
            "greylist@example.test 450 4.7.1 Greylisted, try again later\n"
            "busy@example.test 451 4.3.0 Server busy, try again later\n"
        ),
        "header_checks": "/^X-Mailctl-Probe:/ REJECT probes are not welcome here\n",
        "helo_log": "/./ WARN ehlo name seen\n",
    },
    extra_master=(
        "hcleanup unix n - n - 0 cleanup",
        "  -o header_checks=regexp:{config}/header_checks",
    ),
)


@pytest.fixture(scope="module")
def postfix(postfix_factory: PostfixFactory) -> PostfixInstance:
    return postfix_factory(SPEC)


@dataclass(frozen=True)
class Case:
    id: str
    service: str
    tls: str = "starttls"
    auth: bool = True
    password: str = PASSWORD
    sender: str = USER
    to: str | None = RCPT
    host: str = "localhost"
    ehlo: str | None = "client.example.test"  # None: the probe's default
    status: str = "failed"
    failure_class: str | None = None
    stage: str = "quit"
    code: int | None = None
    quit: bool = True  # the probe's session ends with QUIT (Postfix logs quit=1)
    hint: str | None = None  # a phrase the hint must contain
    swaks_args: tuple[str, ...] = ()
    swaks_ok: bool | None = None  # swaks's verdict when it cannot agree (why: in the case)


def settings_for(case: Case, postfix: PostfixInstance) -> Effective:
    return Effective(
        smtp=SmtpSettings(
            host=case.host,
            port=postfix.ports[case.service],
            tls=case.tls,  # type: ignore[arg-type]
            timeout_ms=15_000,
            auth=Auth(USER, SecretRef(env="INTEROP_PASSWORD")) if case.auth else None,
        ),
        sender=Sender(case.sender, DISPLAY_NAME),
        probe_to=case.to,
    )


@dataclass(frozen=True)
class SwaksVerdict:
    exit_code: int
    last_reply: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


_REPLY = re.compile(r"^<[~*]* *(\d{3}[ -].*)$", re.MULTILINE)


def _swaks_ehlo(case: Case) -> str:
    return case.ehlo or default_ehlo_name() or f"[{LOOPBACK}]"


def run_swaks(case: Case, postfix: PostfixInstance) -> SwaksVerdict:
    """swaks with the same endpoint, TLS mode, credentials, sender, recipient and EHLO."""
    swaks = require_program(FLAG, "swaks", "install swaks (see .ci/install-servers)")
    to = wire_address(case.to or RCPT)[0]  # swaks knows no IDNA
    args = [
        "timeout",
        "20",
        swaks,
        "--server",
        case.host if case.host != "localhost" else LOOPBACK,
        "--port",
        str(postfix.ports[case.service]),
        "--from",
        case.sender,
        "--to",
        to,
        "--ehlo",
        _swaks_ehlo(case),
        "--timeout",
        "15",
        "--tls-verify",
        "--tls-ca-path",
        postfix.ca_file,
        *case.swaks_args,
    ]
    if case.tls == "starttls":
        args.append("--tls")
    elif case.tls == "implicit":
        args.append("--tls-on-connect")
    if case.auth:
        args += ["--auth", "PLAIN", "--auth-user", USER, "--auth-password", case.password]
    done = subprocess.run(args, capture_output=True, check=False, timeout=30)
    stdout = done.stdout.decode("utf-8", errors="replace")
    replies = _REPLY.findall(stdout)
    # The reply before QUIT's 221 is the verdict; on a clean run it is DATA's 250.
    meaningful = [r for r in replies if not r.startswith("221")]
    return SwaksVerdict(done.returncode, meaningful[-1] if meaningful else "")


def run_probe(case: Case, postfix: PostfixInstance) -> ProbeResult:
    settings = settings_for(case, postfix)
    password = case.password if case.auth else None
    return asyncio.run(
        probe(
            settings,
            password,
            scope_label="host",
            ca_file=postfix.ca_file,
            ehlo_name=case.ehlo,
        )
    )


_SIZE_PADDING = ("--body", "x" * 400)  # over message_size_limit=300 like the probe message
CASES = [
    Case("passed-587-starttls-auth", "submission", status="passed", code=250),
    Case("passed-465-implicit-tls", "smtps", tls="implicit", status="passed", code=250),
    Case("passed-default-ehlo-name", "submission", ehlo=None, status="passed", code=250),
    Case(
        "passed-idn-recipient-as-a-label",
        "submission",
        to=IDN_RCPT,
        status="passed",
        code=250,
    ),
    Case(
        "wrong-password",
        "submission",
        password="wrong-password",
        failure_class="auth_rejected",
        stage="auth",
        code=535,
        hint="smtp.auth.username",
    ),
    Case(
        "no-starttls-offered",
        "cleartext",
        failure_class="starttls_unavailable",
        stage="starttls",
        hint="never falls back to plaintext",
    ),
    Case(
        "untrusted-ca",
        "untrusted",
        failure_class="tls_certificate",
        stage="starttls",
        quit=False,
        hint="--ca-file",
    ),
    Case(
        "wrong-host-certificate-by-name",
        "wronghost",
        failure_class="tls_certificate",
        stage="starttls",
        quit=False,
        hint="not valid for the name",
        swaks_ok=True,  # swaks 20201014 does not check certificate host names
    ),
    Case(
        "wrong-host-certificate-by-ip",
        "wronghost",
        host=LOOPBACK,
        failure_class="tls_certificate",
        stage="starttls",
        quit=False,
        hint="IP address",
        swaks_ok=True,  # swaks 20201014 does not check certificate host names
    ),
    Case(
        "unknown-local-user",
        "mx",
        auth=False,
        to="no-such-user@example.test",
        failure_class="recipient_rejected",
        stage="rcpt",
        code=550,
        hint="probe.to",
    ),
    Case(
        "relay-denied",
        "mx",
        auth=False,
        to="someone@remote.test",
        failure_class="relay_denied",
        stage="rcpt",
        code=454,
        hint="relay",
    ),
    Case(
        "sender-login-mismatch-delay-reject-on",
        "submission",
        sender=OTHER_SENDER,
        failure_class="sender_rejected",
        stage="rcpt",
        code=553,
        hint="from.address",
    ),
    Case(
        "sender-login-mismatch-delay-reject-off",
        "submission_nodelay",
        sender=OTHER_SENDER,
        failure_class="sender_rejected",
        stage="mail_from",
        code=553,
        hint="from.address",
    ),
    Case(
        "no-auth-on-submission-port",
        "submission",
        auth=False,
        failure_class="auth_required",
        stage="rcpt",
        code=553,
        hint="add smtp.auth",
    ),
    Case(
        "no-auth-on-submission-port-delay-reject-off",
        "submission_nodelay",
        auth=False,
        failure_class="auth_required",
        stage="mail_from",
        code=553,
        hint="add smtp.auth",
    ),
    Case(
        "tls-none-on-submission-port-without-auth",
        "submission",
        tls="none",
        auth=False,
        failure_class="tls_required",
        stage="mail_from",
        code=530,
        hint="tls: starttls",
    ),
    Case(
        "tls-none-on-submission-port-with-auth",
        "submission",
        tls="none",
        failure_class="tls_required",
        stage="auth",
        hint="tls: starttls",
        swaks_ok=False,  # swaks sends AUTH in clear and gets 503 (no AUTH offered)
    ),
    Case(
        "non-fqdn-helo-rejected",
        "helo",
        auth=False,
        ehlo="vm",
        failure_class="helo_rejected",
        stage="rcpt",
        code=504,
        hint="ehloName",
    ),
    Case(
        "fqdn-helo-passes-with-ehlo-name",
        "helo",
        auth=False,
        ehlo="probe.example.test",
        status="passed",
        code=250,
    ),
    Case(
        "default-ehlo-name-passes-fqdn-check",
        "helo",
        auth=False,
        ehlo=None,
        status="passed",
        code=250,
    ),
    Case(
        "size-limit",
        "small",
        auth=False,
        failure_class="data_rejected",
        stage="data",
        code=552,
        hint="size limit",
        swaks_args=_SIZE_PADDING,
    ),
    Case(
        "header-checks-reject",
        "filtered",
        auth=False,
        failure_class="data_rejected",
        stage="data",
        code=550,
        hint="content filters",
        swaks_args=("--add-header", "X-Mailctl-Probe: swaks"),
    ),
    Case(
        "access-map-450-greylisted",
        "access",
        auth=False,
        to="greylist@example.test",
        failure_class="temporary",
        stage="rcpt",
        code=450,
        hint="greylisting",
    ),
    Case(
        "access-map-451-busy",
        "access",
        auth=False,
        to="busy@example.test",
        failure_class="temporary",
        stage="rcpt",
        code=451,
        hint="later",
    ),
    Case(
        "no-sasl-offered",
        "mx",
        failure_class="auth_unavailable",
        stage="auth",
        hint="submission port",
    ),
    Case(
        "client-rejected",
        "blocked",
        auth=False,
        failure_class="client_rejected",
        stage="rcpt",
        code=554,
        hint="allow this machine",
    ),
    Case(
        "smtputf8-used-when-needed",
        "mx",
        auth=False,
        sender="nötify@example.test",
        status="passed",
        code=250,
    ),
    Case(
        "smtputf8-not-offered",
        "noutf8",
        auth=False,
        sender="nötify@example.test",
        failure_class="smtputf8_unsupported",
        stage="mail_from",
        hint="SMTPUTF8",
        # swaks sends the UTF-8 address without declaring SMTPUTF8 (not RFC 6531), and
        # Postfix with smtputf8_enable=no takes it as opaque bytes.
        swaks_ok=True,
    ),
]


def settle(postfix: PostfixInstance, mark: int) -> str:
    """Wait until every session that began after ``mark`` has ended (Postfix logs through
    postlogd, a little after the fact); the log since ``mark``."""
    deadline = time.monotonic() + 10
    while True:
        log = postfix.log_since(mark)
        opened, closed = log.count(" connect from "), log.count(" disconnect from ")
        if opened and opened == closed:
            return log
        if time.monotonic() > deadline:
            raise AssertionError(f"sessions did not end:\n{log[-3000:]}")
        time.sleep(0.02)


def _session(log: str, service: str) -> str:
    """The ``disconnect from ...`` summary line of the one session on ``service``."""
    tag = f"postfix/{service}/smtpd["
    lines = [line for line in log.splitlines() if tag in line and " disconnect from " in line]
    assert len(lines) == 1, log
    return lines[0]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_probe_against_postfix(case: Case, postfix: PostfixInstance) -> None:
    mark = postfix.log_mark()
    result = run_probe(case, postfix)
    probe_log = settle(postfix, mark)
    swaks_mark = postfix.log_mark()
    verdict = run_swaks(case, postfix)
    settle(postfix, swaks_mark)

    assert (result.status, result.failure_class, result.stage, result.code) == (
        case.status,
        case.failure_class,
        case.stage,
        case.code,
    ), result
    assert result.attempts == 1
    if case.hint is not None:
        assert result.hint is not None and case.hint in result.hint, result.hint
    expected_ok = case.status == "passed" if case.swaks_ok is None else case.swaks_ok
    assert verdict.ok == expected_ok, verdict
    if case.code is not None and case.status == "failed":
        assert verdict.last_reply.startswith(str(case.code)), verdict
    session = _session(probe_log, case.service)
    if case.quit:
        assert "quit=1" in session, session
    assert "lost connection" not in probe_log or not case.quit, probe_log
    assert PASSWORD not in postfix.log_text() and PASSWORD not in result.message


def test_no_auth_sent_without_starttls(postfix: PostfixInstance) -> None:
    """AUTH is offered in clear on this port; the probe still never sends credentials."""
    case = next(c for c in CASES if c.id == "no-starttls-offered")
    mark = postfix.log_mark()
    result = run_probe(case, postfix)
    session = _session(settle(postfix, mark), case.service)
    assert result.failure_class == "starttls_unavailable"
    assert "auth=" not in session and "ehlo=1" in session and "quit=1" in session, session


def test_one_attempt_for_a_temporary_failure(postfix: PostfixInstance) -> None:
    case = next(c for c in CASES if c.id == "access-map-450-greylisted")
    mark = postfix.log_mark()
    run_probe(case, postfix)
    log = settle(postfix, mark)
    assert log.count(" connect from ") == 1, log
    assert log.count("Greylisted") == 1, log


def test_delivered_message_headers(postfix: PostfixInstance) -> None:
    """The probe message as Postfix delivered it into the Maildir."""
    case = Case("deliver", "submission", status="passed")
    mark = postfix.log_mark()
    result = run_probe(case, postfix)
    settle(postfix, mark)
    assert result.passed, result
    deadline = time.monotonic() + 10
    raw = b""
    while not raw and time.monotonic() < deadline:
        for path in postfix.delivered("probe"):
            data = path.read_bytes()
            if f"X-Mailctl-Probe: {result.probe_id}".encode() in data:
                raw = data
        time.sleep(0.05)
    assert raw, "the probe message was not delivered"
    # Postfix stores LF line ends; a stray CR from the client would survive as \r.
    assert b"\r" not in raw
    head = raw.split(b"\n\n", 1)[0].decode("ascii")
    assert re.search(r"^Date: \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+\d{4}$", head, re.M)
    assert re.search(rf"^Message-ID: <{result.probe_id}\.\d+@example\.test>$", head, re.M)
    assert re.search(r"^Auto-Submitted: auto-generated$", head, re.M)
    assert re.search(r"^From: =\?utf-8\?[bq]\?.+\?= <notify@example\.test>$", head, re.M)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(msg["From"].addresses[0].display_name) == DISPLAY_NAME
    assert msg["Subject"] == f"mailctl probe host {result.probe_id}"
    assert msg.get_content_charset() == "utf-8"


def test_spec_ehlo_name_wins_over_the_argument(postfix: PostfixInstance) -> None:
    """``probe.ehloName`` of the scope beats the caller's default (``--ehlo-name``)."""
    case = Case("spec-ehlo", "helo", auth=False, ehlo="vm", status="passed")
    settings = dataclasses.replace(settings_for(case, postfix), ehlo_name="scope.example.test")
    mark = postfix.log_mark()
    result = asyncio.run(
        probe(settings, None, scope_label="host", ca_file=postfix.ca_file, ehlo_name="vm")
    )
    log = settle(postfix, mark)
    assert result.passed, result
    assert "helo=<scope.example.test>" in log, log


@pytest.mark.parametrize(
    ("args", "exit_code", "helo"),
    [
        (("--ehlo-name", "vm"), 3, "vm"),
        (("--ehlo-name", "cli.example.test"), 0, "cli.example.test"),
    ],
    ids=["non-fqdn-refused", "fqdn-passes"],
)
def test_cli_ehlo_name_reaches_the_probe(
    args: tuple[str, ...],
    exit_code: int,
    helo: str,
    postfix: PostfixInstance,
    mailctl: Mailctl,
    repo: ConfigRepo,
) -> None:
    repo.write(
        "host.yaml",
        manifests.host(
            host=LOOPBACK,
            port=postfix.ports["helo"],
            tls="starttls",
            sender=USER,
            probe_to=RCPT,
        ),
    )
    repo.remove("orgs/globex.yaml")  # its own server; the other orgs share the host's probe
    repo.commit("host")
    mark = postfix.log_mark()
    mailctl("apply", "--ca-file", postfix.ca_file, *args, expect=exit_code)
    log = settle(postfix, mark)
    assert f"helo=<{helo}>" in log, log
    probe_json = mailctl.json("status")["scopes"][0]["probe"]
    if exit_code:
        assert (probe_json["class"], probe_json["code"]) == ("helo_rejected", 504), probe_json
    else:
        assert probe_json["status"] == "passed", probe_json


def test_cli_refuses_an_invalid_ehlo_name(mailctl: Mailctl) -> None:
    proc = mailctl("probe", "--ehlo-name", "two words", expect=1)
    assert "--ehlo-name" in proc.stderr and "address literal" in proc.stderr, proc.stderr
