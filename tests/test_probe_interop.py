"""The probe against a real Postfix (Dovecot SASL) on loopback, swaks's verdict beside it.

One Postfix instance per module serves every case, one ``smtpd`` port per behaviour.
Each case asserts the probe's class, stage and SMTP code, and that swaks, run with the
same settings, agrees whether the dialogue fails.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from reconciler.model import Auth, Effective, SecretRef, Sender, SmtpSettings
from reconciler.probe import ProbeResult, probe
from tests.fixtures_postfix import (
    FLAG,
    LOOPBACK,
    PostfixFactory,
    PostfixInstance,
    PostfixSpec,
    Smtpd,
)
from tests.realservers import require_program

USER = "notify@example.test"
PASSWORD = "interop-Secret-42"
OTHER_SENDER = "someone-else@example.test"
RCPT = "probe@example.test"

_SENDER_LOGINS = f"{USER} {USER}\n{OTHER_SENDER} other@example.test\n"

_SUBMISSION = {
    "smtpd_tls_security_level": "encrypt",
    "smtpd_sasl_auth_enable": "yes",
    "smtpd_tls_auth_only": "yes",
    "smtpd_sender_login_maps": "texthash:{config}/sender_logins",
    "smtpd_sender_restrictions": "reject_sender_login_mismatch",
    "smtpd_relay_restrictions": "permit_sasl_authenticated,reject_unauth_destination",
}

SPEC = PostfixSpec(
    services=(
        Smtpd("submission", _SUBMISSION),
        Smtpd("smtps", _SUBMISSION, wrappermode=True),
    ),
    users={USER: PASSWORD},
    maps={"sender_logins": _SENDER_LOGINS},
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
    status: str = "failed"
    failure_class: str | None = None
    stage: str = "quit"
    code: int | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


def settings_for(case: Case, postfix: PostfixInstance) -> Effective:
    return Effective(
        smtp=SmtpSettings(
            host=case.host,
            port=postfix.ports[case.service],
            tls=case.tls,  # type: ignore[arg-type]
            timeout_ms=15_000,
            auth=Auth(USER, SecretRef(env="INTEROP_PASSWORD")) if case.auth else None,
        ),
        sender=Sender(case.sender, "Interop Probe"),
        probe_to=case.to,
    )


@dataclass(frozen=True)
class SwaksVerdict:
    exit_code: int
    last_reply: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


_REPLY = re.compile(r"^<~?\*? *(\d{3}[ -].*)$", re.MULTILINE)


def run_swaks(case: Case, postfix: PostfixInstance) -> SwaksVerdict:
    """swaks with the same endpoint, TLS mode, credentials, sender and recipient."""
    swaks = require_program(FLAG, "swaks", "install swaks (see .ci/install-servers)")
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
        case.to or RCPT,
        "--ehlo",
        "client.example.test",
        "--timeout",
        "15",
        "--tls-verify",
        "--tls-ca-path",
        postfix.ca_file,
    ]
    if case.tls == "starttls":
        args.append("--tls")
    elif case.tls == "implicit":
        args.append("--tls-on-connect")
    if case.auth:
        args += ["--auth", "PLAIN", "--auth-user", USER, "--auth-password", case.password]
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=30)
    replies = _REPLY.findall(done.stdout)
    # The reply before QUIT's 221 is the verdict; on a clean run it is DATA's 250.
    meaningful = [r for r in replies if not r.startswith("221")]
    return SwaksVerdict(done.returncode, meaningful[-1] if meaningful else "")


def run_probe(case: Case, postfix: PostfixInstance) -> ProbeResult:
    settings = settings_for(case, postfix)
    password = case.password if case.auth else None
    return asyncio.run(probe(settings, password, scope_label="host", ca_file=postfix.ca_file))


CASES = [
    Case("submission-587-starttls-auth", "submission", status="passed", code=250),
    Case("smtps-465-implicit", "smtps", tls="implicit", status="passed", code=250),
    Case(
        "wrong-password",
        "submission",
        password="wrong-password",
        failure_class="auth_rejected",
        stage="auth",
        code=535,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_probe_against_postfix(case: Case, postfix: PostfixInstance) -> None:
    mark = postfix.log_mark()
    result = run_probe(case, postfix)
    verdict = run_swaks(case, postfix)
    assert result.status == case.status, result
    assert result.failure_class == case.failure_class, result
    assert result.stage == case.stage, result
    assert result.code == case.code, result
    assert verdict.ok == (case.status == "passed"), verdict
    if case.code is not None and case.status == "failed":
        assert verdict.last_reply.startswith(str(case.code)), verdict
    log = postfix.log_since(mark)
    assert PASSWORD not in log and PASSWORD not in result.message
