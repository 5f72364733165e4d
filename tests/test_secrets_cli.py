"""Secrets end to end, as real ``mailctl`` processes: tenant scoping in validate and apply,
FIFO and /dev/zero secrets among many orgs, and a server that echoes credentials."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from bench.bench_secrets import FIFO_ORG, ZERO_ORG, secret_args, write_secret_set
from tests import manifests
from tests.fixtures_cli import run_mailctl
from tests.fixtures_smtp import Pki, RunningServer, ServerSpec

HOST_SECRET = "Host-Only-s3cret-value"
ACME_SECRET = "acme-Tenant-pa55word"
OTHER_SECRET = "globex-Other-tenant-pw"


def mailctl(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return run_mailctl(*args, cwd=cwd, env=env, timeout=timeout)


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILCTL_", "NO_COLOR"))}
    env.pop("CREDENTIALS_DIRECTORY", None)
    env.update(
        MAILCTL_SECRETS_DIRS=str(tmp_path / "secrets"),
        MAILCTL_ACTOR="tester",
        HOST_SMTP_PASSWORD=HOST_SECRET,
        ACME_SMTP_PASSWORD=ACME_SECRET,
        GLOBEX_SMTP_PASSWORD=OTHER_SECRET,
    )
    (tmp_path / "secrets").mkdir()
    return env


def _org(name: str, port: int, password_ref: str, user: str = "demo") -> str:
    text = manifests.org(name, "custom", port=port, user=user)
    return text.replace(f"{{env: {manifests.org_secret_env(name)}}}", password_ref)


def _host_configs(tmp_path: Path, port: int) -> Path:
    """``configs/`` with ``orgs/`` and a host on ``port`` using ``HOST_SMTP_PASSWORD``."""
    configs = tmp_path / "configs"
    (configs / "orgs").mkdir(parents=True)
    (configs / "host.yaml").write_text(
        manifests.host(port=port, user="mailer", secret_env="HOST_SMTP_PASSWORD")
    )
    return configs


def test_validate_reports_scope_and_root_violations(
    tmp_path: Path, base_env: dict[str, str]
) -> None:
    configs = tmp_path / "configs"
    (configs / "orgs").mkdir(parents=True)
    (configs / "host.yaml").write_text(
        manifests.host(user="mailer", secret_env="HOST_SMTP_PASSWORD")
    )
    (configs / "orgs" / "evil.yaml").write_text(_org("evil", 2525, "{env: HOST_SMTP_PASSWORD}"))
    (configs / "orgs" / "shadow.yaml").write_text(_org("shadow", 2525, "{file: /etc/shadow}"))
    (configs / "orgs" / "environ.yaml").write_text(
        _org("environ", 2525, "{file: /proc/self/environ}")
    )
    (configs / "orgs" / "acme.yaml").write_text(manifests.org("acme", "custom", user="demo"))
    proc = mailctl("validate", "--strict", "--format", "json", env=base_env, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout
    found = {
        (Path(d["file"]).name, d["rule"], d["path"], d["line"], d["column"])
        for d in json.loads(proc.stdout)["diagnostics"]
    }
    env_path, file_path = "$.spec.smtp.auth.password.env", "$.spec.smtp.auth.password.file"
    assert found == {
        ("evil.yaml", "secret.scope", env_path, 14, 23),
        ("shadow.yaml", "secret.outside-roots", file_path, 14, 24),
        ("environ.yaml", "secret.outside-roots", file_path, 14, 24),
    }
    text = mailctl("validate", env=base_env, cwd=tmp_path)
    assert "configs/orgs/evil.yaml:14:23: error: organization evil may only use" in text.stdout
    assert "hint: rename the variable to e.g. EVIL_SMTP_PASSWORD" in text.stdout
    # Scoping off: the env reference is fine, files outside the roots never are.
    for extra, env in (
        (["--shared-secrets"], base_env),
        ([], {**base_env, "MAILCTL_SHARED_SECRETS": "1"}),
    ):
        shared = mailctl("validate", "--format", "json", *extra, env=env, cwd=tmp_path)
        rules = sorted(d["rule"] for d in json.loads(shared.stdout)["diagnostics"])
        assert rules == ["secret.outside-roots", "secret.outside-roots"]
    # A root that holds the file makes it valid for the host but not for an org.
    etc = mailctl(
        "validate", "--secrets-dir", "/etc", "--format", "json", env=base_env, cwd=tmp_path
    )
    rules = sorted(d["rule"] for d in json.loads(etc.stdout)["diagnostics"])
    assert rules == ["secret.outside-roots", "secret.scope", "secret.scope"]


def test_apply_never_resolves_or_sends_another_tenants_secret(
    tmp_path: Path,
    base_env: dict[str, str],
    smtp_server: Callable[[ServerSpec], RunningServer],
    pki: Pki,
) -> None:
    """An org naming the host's variable, /proc/self/environ or a file outside the roots
    is held; its server sees no connection at all, and nothing of the secret is printed."""
    platform = smtp_server(ServerSpec(tls="starttls", users={"mailer": HOST_SECRET}))
    attacker = smtp_server(ServerSpec(tls="starttls", users={"x": "y"}))
    configs = _host_configs(tmp_path, platform.port)
    (configs / "orgs" / "evil.yaml").write_text(
        _org("evil", attacker.port, "{env: HOST_SMTP_PASSWORD}")
    )
    (configs / "orgs" / "environ.yaml").write_text(
        _org("environ", attacker.port, "{file: /proc/self/environ}")
    )
    (configs / "orgs" / "acme.yaml").write_text(manifests.org("acme"))
    env = {**base_env, "MAILCTL_CA_FILE": pki.ca_file}
    args = ["--configs", str(configs), "--store", str(tmp_path / "s.db"), "--revision", "r1"]
    proc = mailctl("apply", *args, "--format", "json", env=env, cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    payload = json.loads(proc.stdout)
    assert sorted(payload["written"]) == ["host", "org/acme"]
    problems = {f["file"].rsplit("/", 1)[-1]: f for f in payload["invalid_files"]}
    problems.update({h["scope"]: h for h in payload["held"]})
    rules = {d["rule"] for item in problems.values() for d in item.get("diagnostics", [])}
    assert rules == {"secret.scope", "secret.outside-roots"}
    assert attacker.recorder.sessions == 0 and attacker.recorder.auth_commands == []
    assert [p["status"] for p in payload["probes"]] == ["passed"]  # host + acme: one probe
    everything = proc.stdout + proc.stderr
    assert HOST_SECRET not in everything and ACME_SECRET not in everything


class EchoAuthenticator:
    """Rejects every login with a 535 that quotes the credentials in every form, plus
    another tenant's secret (a server that leaks across its sessions)."""

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        user, pw = data.login, data.password
        forms = [
            pw.decode(),
            pw.decode().upper(),
            pw.decode().lower(),
            base64.b64encode(pw).decode(),
            base64.b64encode(pw).decode().lower(),
            base64.b64encode(b"\0" + user + b"\0" + pw).decode(),
            base64.b64encode(b"\0" + user + b"\0" + pw).decode().upper(),
            OTHER_SECRET,
        ]
        return AuthResult(
            success=False,
            handled=False,
            message=f"535 5.7.8 rejected {mechanism}: {' '.join(forms)}",
        )


def _forms(secret: str, user: str) -> list[str]:
    raw = secret.encode()
    plain = base64.b64encode(b"\0" + user.encode() + b"\0" + raw).decode()
    b64 = base64.b64encode(raw).decode()
    return [secret, secret.upper(), secret.lower(), b64, b64.lower(), plain, plain.upper()]


def test_echoed_credentials_reach_no_output_log_or_store(
    tmp_path: Path,
    base_env: dict[str, str],
    smtp_server: Callable[[ServerSpec], RunningServer],
    pki: Pki,
) -> None:
    server = smtp_server(ServerSpec(tls="starttls", users={}))
    server.controller.SMTP_kwargs["authenticator"] = EchoAuthenticator()
    other = smtp_server(ServerSpec(tls="starttls", users={"globex": OTHER_SECRET}))
    configs = _host_configs(tmp_path, server.port)
    (configs / "orgs" / "acme.yaml").write_text(
        manifests.org("acme", "custom", port=server.port, user="acmeuser")
    )
    (configs / "orgs" / "globex.yaml").write_text(
        manifests.org("globex", "custom", port=other.port, user="globex")
    )
    store = tmp_path / "s.db"
    env = {**base_env, "MAILCTL_CA_FILE": pki.ca_file}
    common = ["--configs", str(configs), "--store", str(store)]
    outputs = []
    applied = mailctl(
        "apply",
        *common,
        "--revision",
        "r1",
        "--log-format",
        "json",
        "--format",
        "json",
        env=env,
        cwd=tmp_path,
    )
    assert applied.returncode == 3, applied.stderr
    outputs += [applied.stdout, applied.stderr]
    results = {s: p for p in json.loads(applied.stdout)["probes"] for s in p["scopes"]}
    for scope in ("host", "org/acme"):
        assert results[scope]["class"] == "auth_rejected"
        assert results[scope]["message"].startswith("5.7.8 rejected PLAIN: ***")
        assert "***" in results[scope]["message"]  # the server did echo, and it was masked
    assert results["org/globex"]["status"] == "passed"
    assert any(
        json.loads(line).get("event") == "probe.failed" for line in applied.stderr.splitlines()
    )
    for command in (["status", "--format", "json"], ["status"], ["probe", "--format", "json"]):
        proc = mailctl(command[0], "--store", str(store), *command[1:], env=env, cwd=tmp_path)
        outputs += [proc.stdout, proc.stderr]
    status = json.loads(outputs[2])
    stored = [s["probe"]["message"] for s in status["scopes"] if s["probe"]]
    assert any("5.7.8 rejected PLAIN: ***" in m for m in stored)
    blobs = [
        Path(f"{store}{suffix}").read_bytes()
        for suffix in ("", "-wal")
        if Path(f"{store}{suffix}").exists()
    ]
    with sqlite3.connect(store) as conn:  # what SQLite itself hands back
        rows = [repr(r) for t in ("scopes", "history") for r in conn.execute(f"SELECT * FROM {t}")]
    haystack = "\n".join(outputs + rows)
    for needle in (
        _forms(HOST_SECRET, "mailer")
        + _forms(ACME_SECRET, "acmeuser")
        + _forms(OTHER_SECRET, "globex")
    ):
        assert needle not in haystack, needle
        for blob in blobs:
            assert needle.encode() not in blob, needle


def test_fifo_and_dev_zero_hold_only_their_scopes(tmp_path: Path) -> None:
    """40 orgs with their own file or env secrets, one FIFO, one /dev/zero: apply finishes,
    holds exactly those two (SecretUnresolved) and writes every other scope."""
    configs, secrets, environ = write_secret_set(tmp_path, 40)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILCTL_")}
    env.update(environ)
    args = ["--configs", str(configs), "--store", str(tmp_path / "s.db"), "--revision", "r1"]
    proc = mailctl(
        "apply",
        *args,
        "--probe",
        "off",
        "--format",
        "json",
        *secret_args(secrets),
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    payload = json.loads(proc.stdout)
    held = sorted((h["scope"], h["reason"]) for h in payload["held"])
    assert held == [
        (f"org/{FIFO_ORG}", "SecretUnresolved"),
        (f"org/{ZERO_ORG}", "SecretUnresolved"),
    ]
    messages = {h["scope"]: h["message"] for h in payload["held"]}
    assert "FIFO" in messages[f"org/{FIFO_ORG}"]
    assert "character device" in messages[f"org/{ZERO_ORG}"]
    assert len(payload["written"]) == 41 and "host" in payload["written"]
    plan = mailctl(
        "plan",
        *args[:4],
        "--format",
        "json",
        *secret_args(secrets),
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert sorted(h["scope"] for h in json.loads(plan.stdout)["held"]) == [
        f"org/{FIFO_ORG}",
        f"org/{ZERO_ORG}",
    ]


def test_systemd_credentials_directory_is_the_default_root(
    tmp_path: Path, base_env: dict[str, str]
) -> None:
    """LoadCredential=: $CREDENTIALS_DIRECTORY is the root when no --secrets-dir is given;
    the host reads a relative file, an org its own folder below it."""
    creds = tmp_path / "credentials"
    (creds / "orgs" / "acme").mkdir(parents=True)
    (creds / "host-smtp").write_text(HOST_SECRET + "\n")
    (creds / "orgs" / "acme" / "smtp").write_text(ACME_SECRET + "\n")
    configs = tmp_path / "configs"
    (configs / "orgs").mkdir(parents=True)
    host = manifests.host(user="mailer", secret_env="X").replace("{env: X}", "{file: host-smtp}")
    (configs / "host.yaml").write_text(host)
    (configs / "orgs" / "acme.yaml").write_text(_org("acme", 2525, "{file: orgs/acme/smtp}"))
    (configs / "orgs" / "evil.yaml").write_text(_org("evil", 2525, "{file: host-smtp}"))
    env = {k: v for k, v in base_env.items() if k != "MAILCTL_SECRETS_DIRS"}
    env["CREDENTIALS_DIRECTORY"] = str(creds)
    args = ["--configs", str(configs), "--store", str(tmp_path / "s.db"), "--format", "json"]
    plan = mailctl("plan", *args, env=env, cwd=tmp_path)
    payload = json.loads(plan.stdout)
    assert sorted(c["scope"] for c in payload["changes"]) == ["host", "org/acme"]
    assert [Path(f["file"]).name for f in payload["invalid_files"]] + [
        h["scope"] for h in payload["held"]
    ] in (["evil.yaml"], ["org/evil"])
    assert HOST_SECRET not in plan.stdout + plan.stderr


CORP_SECRET = "acme-Corp-0wn-pa55"


def test_a_longer_org_prefix_owns_the_variable_in_validate_apply_and_probe(
    tmp_path: Path,
    base_env: dict[str, str],
    smtp_server: Callable[[ServerSpec], RunningServer],
    pki: Pki,
) -> None:
    """``ACME_CORP_SMTP_PASSWORD`` matches ``ACME_*`` too. Without an org acme-corp it is
    acme's to use; once acme-corp exists it is acme-corp's alone: validate reports acme's
    reference (file:line:col), apply holds acme without reading the variable, and a probe
    of acme's stored settings refuses it before connecting."""
    platform = smtp_server(ServerSpec(tls="starttls", users={"mailer": HOST_SECRET}))
    acme_srv = smtp_server(ServerSpec(tls="starttls", users={"demo": CORP_SECRET}))
    corp_srv = smtp_server(ServerSpec(tls="starttls", users={"corp": CORP_SECRET}))
    configs = _host_configs(tmp_path, platform.port)
    (configs / "orgs" / "acme.yaml").write_text(
        _org("acme", acme_srv.port, "{env: ACME_CORP_SMTP_PASSWORD}")
    )
    env = {**base_env, "MAILCTL_CA_FILE": pki.ca_file, "ACME_CORP_SMTP_PASSWORD": CORP_SECRET}
    store = ["--store", str(tmp_path / "s.db")]
    args = ["--configs", str(configs), *store]
    outputs: list[str] = []

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        proc = mailctl(*argv, env=env, cwd=tmp_path)
        outputs.append(proc.stdout + proc.stderr)
        return proc

    # No org acme-corp: the prefix is acme's own.
    assert run("validate", "configs").returncode == 0
    first = run("apply", *args, "--revision", "r1", "--format", "json")
    assert first.returncode == 0, first.stdout + first.stderr
    assert acme_srv.recorder.auth_commands  # acme logged in with it
    sessions_before = acme_srv.recorder.sessions

    # acme-corp appears: ACME_CORP_* is its own now (longest prefix).
    (configs / "orgs" / "acme-corp.yaml").write_text(
        _org("acme-corp", corp_srv.port, "{env: ACME_CORP_SMTP_PASSWORD}", user="corp")
    )
    checked = run("validate", "--format", "json", "configs")
    assert checked.returncode == 1, checked.stdout
    found = [
        (Path(d["file"]).name, d["rule"], d["path"], d["line"], d["column"])
        for d in json.loads(checked.stdout)["diagnostics"]
    ]
    assert found == [("acme.yaml", "secret.scope", "$.spec.smtp.auth.password.env", 14, 23)]
    text = run("validate", "configs").stdout
    assert (
        "configs/orgs/acme.yaml:14:23: error: organization acme may not use "
        "ACME_CORP_SMTP_PASSWORD: it belongs to organization acme-corp (ACME_CORP_* is the "
        "longest matching prefix) [secret.scope]"
    ) in text

    second = run("apply", *args, "--revision", "r2", "--format", "json")
    assert second.returncode == 3, second.stdout + second.stderr
    payload = json.loads(second.stdout)
    assert payload["written"] == ["org/acme-corp"]
    (held,) = payload["held"]
    assert held["scope"] == "org/acme" and held["reason"] == "SecretUnresolved"
    assert "belongs to organization acme-corp" in held["message"]
    assert [p["status"] for p in payload["probes"]] == ["passed"]  # acme-corp's own
    assert corp_srv.recorder.auth_commands
    assert acme_srv.recorder.sessions == sessions_before  # acme's server saw nothing more

    # acme's stored settings (r1) still name the variable: a probe refuses it unread.
    probe = run("probe", *store, "org/acme", "--format", "json")
    assert probe.returncode == 3, probe.stdout + probe.stderr
    (result,) = json.loads(probe.stdout)["results"]
    assert result["class"] == "secret_unresolved", result
    assert "belongs to organization acme-corp" in result["message"]
    assert acme_srv.recorder.sessions == sessions_before

    # --shared-secrets: one team owns every manifest, nothing is confined.
    shared = run("validate", "--shared-secrets", "configs")
    assert shared.returncode == 0, shared.stdout
    for out in outputs:
        assert CORP_SECRET not in out and CORP_SECRET.lower() not in out.lower()
