"""A throwaway Postfix (with Dovecot SASL) on loopback ports, for interop tests.

Nothing of the system's mail configuration is touched: every instance lives in its own
temporary folder (``main.cf`` + ``master.cf``, queue, data, logs, maps, Dovecot config)
and listens on 127.0.0.1 only. Use the session fixture ``postfix_factory``::

    def test_x(postfix_factory: PostfixFactory) -> None:
        pf = postfix_factory(
            PostfixSpec(
                services=(
                    Smtpd("submission", {"smtpd_tls_security_level": "encrypt",
                                         "smtpd_sasl_auth_enable": "yes"}),
                    Smtpd("plain", {"smtpd_tls_security_level": "none"}),
                ),
                users={"notify@example.test": "s3cret"},
            )
        )
        pf.ports["submission"]   # a free loopback port
        pf.log_text()            # Postfix's own log (maillog_file)
        pf.maildir("probe")      # where local delivery for probe@example.test lands

Each ``Smtpd`` is one ``smtpd`` line in ``master.cf`` with ``-o`` overrides, on its own
port; ``cert`` names one of ``PostfixPki``'s certificates (``good``: localhost and
127.0.0.1; ``wrong_host``: only ``mail.other.example``; ``unknown_ca``: good names,
untrusted CA) and ``wrappermode=True`` makes it implicit TLS (465 style). ``main_cf`` adds
lines to ``main.cf`` (overriding the defaults below); ``maps`` writes files into the
config folder (use them as ``texthash:{config}/name``: ``{config}`` in any option or line
is replaced by the config folder); ``extra_master`` adds ``master.cf`` lines (e.g. a
``cleanup`` clone with ``header_checks``).

The instance: local domain ``example.test`` (``mydestination``; ``myhostname`` is
``mail.example.test``), mail to local users is delivered into ``~/Maildir/`` of real
system users (``local_users``, created with ``useradd -m`` if missing: needs root),
unknown local users get ``550 5.1.1``, mail to other domains is accepted only from
authenticated clients and then discarded, ``mynetworks`` excludes loopback (so relaying
needs AUTH: ``454 4.7.1 Relay access denied`` otherwise). Dovecot serves SASL (PLAIN,
LOGIN) for ``users`` through ``private/auth``; ``smtpd_sasl_auth_enable`` stays off
unless a service turns it on. The factory stops every instance (Postfix, then Dovecot's
whole process group) at session end; ``PostfixInstance.stop()`` stops one earlier.

Missing programs or a non-root user skip the tests with the reason, or fail them when
``MAILCTL_REQUIRE_INTEROP=1`` (CI).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme

from tests.realservers import require_program, unavailable

LOOPBACK = "127.0.0.1"
FLAG = "MAILCTL_REQUIRE_INTEROP"
LOCAL_DOMAIN = "example.test"
MYHOSTNAME = "mail.example.test"
_HINT = "install postfix and dovecot-core (see .ci/install-servers)"

_MASTER_BASE = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Smtpd:
    """One ``smtpd`` listener: ``-o`` overrides, a certificate, implicit TLS or not."""

    name: str
    options: Mapping[str, str] = field(default_factory=dict)
    cert: str = "good"
    wrappermode: bool = False


@dataclass(frozen=True)
class PostfixSpec:
    services: Sequence[Smtpd]
    users: Mapping[str, str] = field(default_factory=dict)  # SASL accounts (Dovecot)
    main_cf: Sequence[str] = ()
    maps: Mapping[str, str] = field(default_factory=dict)  # file name -> content
    extra_master: Sequence[str] = ()
    local_users: Sequence[str] = ("probe",)


@dataclass(frozen=True)
class PostfixPki:
    """A trusted CA and server certificates (key + chain PEM files for Postfix)."""

    ca_file: str
    chains: Mapping[str, str]  # name -> combined key+cert+chain PEM path


@dataclass
class PostfixInstance:
    config_dir: Path
    queue_dir: Path
    log_path: Path
    dovecot_log: Path
    ports: dict[str, int]
    ca_file: str
    local_users: tuple[str, ...]
    _dovecot: subprocess.Popen[bytes] | None
    _stopped: bool = False

    def log_text(self) -> str:
        """Postfix's log so far (text, undecodable bytes replaced)."""
        try:
            return self.log_path.read_text("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_mark(self) -> int:
        """The log's current length: pass it to ``log_since`` for one test's lines."""
        return len(self.log_text())

    def log_since(self, mark: int) -> str:
        return self.log_text()[mark:]

    def wait_for_log(self, pattern: str, since: int = 0, timeout: float = 10.0) -> str:
        """Wait until ``pattern`` (a regex) appears in the log after ``since``; the log."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_since(since)
            if regex.search(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not in the Postfix log:\n{text[-3000:]}")
            time.sleep(0.05)

    def home(self, user: str) -> Path:
        return Path(pwd.getpwnam(user).pw_dir)

    def maildir(self, user: str = "probe") -> Path:
        """``~user/Maildir`` (Postfix's ``home_mailbox``)."""
        return self.home(user) / "Maildir"

    def delivered(self, user: str = "probe") -> list[Path]:
        """Message files in ``~user/Maildir/new``."""
        new = self.maildir(user) / "new"
        return sorted(new.iterdir()) if new.is_dir() else []

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        _postfix(self.config_dir, "stop", check=False)
        pid_file = self.queue_dir / "pid" / "master.pid"
        _wait_gone(_read_pid(pid_file), 10.0)
        if self._dovecot is not None:
            stop_process_group(self._dovecot)


PostfixFactory = Callable[[PostfixSpec], PostfixInstance]


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_gone(pid: int | None, timeout: float) -> None:
    if pid is None:
        return
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM Dovecot's process group (master and its auth children), then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    # Children that outlived the master are still in the group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _postfix(config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    # ``postfix start`` says nothing without a terminal; ``script`` gives it one.
    command = " ".join(["postfix", "-c", str(config), *args])
    result = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{command} failed ({result.returncode}): {result.stdout}{result.stderr}"
        )
    return result


def ensure_local_user(name: str) -> None:
    """A real system user with a home folder (``useradd -m``), for Maildir delivery."""
    try:
        pwd.getpwnam(name)
        return
    except KeyError:
        pass
    result = subprocess.run(
        ["useradd", "-m", "-s", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in (0, 9):  # 9: created meanwhile by another process
        unavailable(FLAG, f"cannot create local user {name}: {result.stderr.strip()}")


def _sub(text: str, config: Path) -> str:
    return text.replace("{config}", str(config))


def _master_cf(spec: PostfixSpec, ports: Mapping[str, int], pki: PostfixPki, cfg: Path) -> str:
    lines = [_MASTER_BASE]
    for svc in spec.services:
        opts = {"syslog_name": f"postfix/{svc.name}", "smtpd_tls_chain_files": pki.chains[svc.cert]}
        if svc.wrappermode:
            opts["smtpd_tls_wrappermode"] = "yes"
            opts.setdefault("smtpd_tls_security_level", "encrypt")
        opts.update(svc.options)
        lines.append(f"{LOOPBACK}:{ports[svc.name]} inet n - n - - smtpd")
        for key, value in opts.items():
            option = f"{key}={_sub(value, cfg)}"
            if any(ch.isspace() for ch in option):
                option = "{ " + option + " }"  # master.cf syntax for values with spaces
            lines.append(f"  -o {option}")
    lines.extend(_sub(line, cfg) for line in spec.extra_master)
    return "\n".join(lines) + "\n"


def _main_cf(spec: PostfixSpec, root: Path, cfg: Path, queue: Path, pki: PostfixPki) -> str:
    lines = [
        "compatibility_level = 3.6",
        f"queue_directory = {queue}",
        f"data_directory = {root / 'data'}",
        "meta_directory = /etc/postfix",
        "command_directory = /usr/sbin",
        "daemon_directory = /usr/lib/postfix/sbin",
        "mail_owner = postfix",
        "setgid_group = postdrop",
        f"maillog_file = {root / 'postfix.log'}",
        f"maillog_file_prefixes = {root}",
        "inet_interfaces = 127.0.0.1",
        "inet_protocols = ipv4",
        f"myhostname = {MYHOSTNAME}",
        f"mydomain = {LOCAL_DOMAIN}",
        f"myorigin = {LOCAL_DOMAIN}",
        f"mydestination = {LOCAL_DOMAIN}, localhost",
        "mynetworks = 192.0.2.0/24",
        "alias_maps =",
        "alias_database =",
        "home_mailbox = Maildir/",
        "default_transport = discard:remote mail is not sent by the test instance",
        "relayhost =",
        "biff = no",
        "smtpd_banner = $myhostname ESMTP",
        f"smtpd_tls_chain_files = {pki.chains['good']}",
        "smtpd_tls_security_level = may",
        "smtpd_sasl_type = dovecot",
        "smtpd_sasl_path = private/auth",
        "smtpd_sasl_auth_enable = no",
        "smtp_tls_security_level = none",
        "disable_dns_lookups = yes",
        "smtp_dns_support_level = disabled",
        "maillog_file_rotate_suffix = %Y%m%d-%H%M%S",
        "notify_classes =",
        "lmtp_tls_security_level = none",
    ]
    settings: dict[str, str] = {}
    for line in [*lines, *(_sub(extra, cfg) for extra in spec.main_cf)]:
        key, _, value = line.partition("=")
        settings[key.strip()] = value.strip()  # later lines (the spec's) override
    return "".join(f"{key} = {value}\n" for key, value in settings.items())


def dovecot_passwd_auth(users_file: Path, *, uid: str, gid: str, home: str) -> str:
    """Dovecot's PLAIN/LOGIN authentication against a passwd-file of clear passwords, every
    user mapped to one system ``uid``/``gid`` and ``home`` (shared with fixtures_imap)."""
    return f"""\
auth_mechanisms = plain login
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users_file}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={home}
}}"""


def write_dovecot_users(path: Path, users: Mapping[str, str]) -> Path:
    """A Dovecot passwd-file of clear passwords, readable by the dovecot group only."""
    path.write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in users.items()))
    shutil.chown(path, group="dovecot")
    os.chmod(path, 0o640)
    return path


def start_dovecot(conf: Path, text: str) -> subprocess.Popen[bytes]:
    """Write the config ``text`` to ``conf`` and run Dovecot on it in the foreground, in a
    session of its own (``stop_process_group`` ends it with its children)."""
    conf.write_text(text)
    return subprocess.Popen(
        ["dovecot", "-F", "-c", str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _dovecot_conf(root: Path, queue: Path, users_file: Path) -> str:
    return f"""\
protocols = none
base_dir = {root / "dovecot-run"}
state_dir = {root / "dovecot-state"}
log_path = {root / "dovecot.log"}
ssl = no
disable_plaintext_auth = no
{dovecot_passwd_auth(users_file, uid="nobody", gid="nogroup", home="/nonexistent")}
service auth {{
  unix_listener {queue / "private" / "auth"} {{
    mode = 0660
    user = postfix
    group = postfix
  }}
}}
"""


def _listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port`` (read from /proc: a test connection
    would leave "lost connection" lines in the Postfix log)."""
    needle = f"0100007F:{port:04X}"
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return _connectable(port)
    return any(f.split()[1] == needle and f.split()[3] == "0A" for f in lines if f.strip())


def _connectable(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1):
            return True
    except OSError:
        return False


def _wait_listening(ports: Sequence[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for port in ports:
        while not _listening(port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"Postfix does not listen on {port}")
            time.sleep(0.05)


def start_postfix(spec: PostfixSpec, pki: PostfixPki, root: Path) -> PostfixInstance:
    """Write the configuration under ``root``, start Dovecot and Postfix, wait for ports."""
    if os.geteuid() != 0:
        unavailable(FLAG, "a throwaway Postfix instance needs root (set-permissions, users)")
    for program in ("postfix", "dovecot", "script"):
        require_program(FLAG, program, _HINT)
    for user in spec.local_users:
        ensure_local_user(user)
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    cfg, queue, data = root / "config", root / "queue", root / "data"
    for path in (cfg, queue, data):
        path.mkdir(exist_ok=True)
    shutil.chown(data, "postfix")
    ports = {svc.name: free_port() for svc in spec.services}
    (cfg / "main.cf").write_text(_main_cf(spec, root, cfg, queue, pki))
    (cfg / "master.cf").write_text(_master_cf(spec, ports, pki, cfg))
    for name, content in spec.maps.items():
        (cfg / name).write_text(_sub(content, cfg))
    _postfix(cfg, "set-permissions", "create-missing")
    check = _postfix(cfg, "check", check=False)
    if check.returncode != 0:
        raise RuntimeError(f"postfix check: {check.stdout}{check.stderr}")
    users_file = write_dovecot_users(root / "dovecot-users", spec.users)
    dovecot = start_dovecot(root / "dovecot.conf", _dovecot_conf(root, queue, users_file))
    instance = PostfixInstance(
        config_dir=cfg,
        queue_dir=queue,
        log_path=root / "postfix.log",
        dovecot_log=root / "dovecot.log",
        ports=ports,
        ca_file=pki.ca_file,
        local_users=tuple(spec.local_users),
        _dovecot=dovecot,
    )
    try:
        deadline = time.monotonic() + 15
        while not (queue / "private" / "auth").exists():
            if dovecot.poll() is not None or time.monotonic() > deadline:
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                raise RuntimeError(f"Dovecot did not start: {log[-2000:]}")
            time.sleep(0.05)
        _postfix(cfg, "start")
        _wait_listening(list(ports.values()), 20)
    except BaseException:
        instance.stop()
        raise
    return instance


@pytest.fixture(scope="session")
def postfix_pki() -> Iterator[PostfixPki]:
    """Certificates for Postfix: ``good``, ``wrong_host``, ``unknown_ca`` (+ trusted CA)."""
    ca, other = trustme.CA(), trustme.CA()
    folder = Path(tempfile.mkdtemp(prefix="mailctl-pki-"))
    os.chmod(folder, 0o755)
    leaves = {
        "good": ca.issue_cert("localhost", LOOPBACK, MYHOSTNAME),
        "wrong_host": ca.issue_cert("mail.other.example"),
        "unknown_ca": other.issue_cert("localhost", LOOPBACK, MYHOSTNAME),
    }
    chains: dict[str, str] = {}
    for name, leaf in leaves.items():
        path = folder / f"{name}.pem"
        blobs = [leaf.private_key_pem.bytes(), *(b.bytes() for b in leaf.cert_chain_pems)]
        path.write_bytes(b"".join(blobs))
        os.chmod(path, 0o644)
        chains[name] = str(path)
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    yield PostfixPki(ca_file=str(ca_file), chains=chains)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postfix_factory(postfix_pki: PostfixPki) -> Iterator[PostfixFactory]:
    """``factory(spec) -> PostfixInstance``; every instance is stopped at session end."""
    started: list[tuple[PostfixInstance, Path]] = []

    def factory(spec: PostfixSpec) -> PostfixInstance:
        root = Path(tempfile.mkdtemp(prefix="mailctl-postfix-"))
        instance = start_postfix(spec, postfix_pki, root)
        started.append((instance, root))
        return instance

    yield factory
    for instance, root in started:
        instance.stop()
        shutil.rmtree(root, ignore_errors=True)
