"""A real Dovecot IMAP server on loopback, for delivery-confirmation tests.

Each instance lives in its own temporary folder (configuration, runtime, log, password
file, mail homes) and listens on 127.0.0.1 only: ``imaps`` (implicit TLS) and ``imap``
(STARTTLS; ``ssl = required`` so no plaintext login) on free ports, with a trustme
certificate. Accounts come from a ``passwd-file``; mail access runs as ``userdb static``
``uid=nobody`` by default (Dovecot refuses UID 0) with ``mail_location =
maildir:~/Maildir`` and a ``Junk`` mailbox marked ``\\Junk`` (RFC 6154 special use;
on disk the Maildir++ folder ``.Junk``).

``deliver()`` drops a message straight into the Maildir (what a local delivery agent
does), so tests that do not need Postfix still exercise the real IMAP server. For
Postfix-delivered mail, pass the delivering user's home and uid (``home``, ``uid``).

Use the factory fixture ``dovecot_imap``::

    imap = dovecot_imap()                      # user "probe", password IMAP_PASSWORD
    imap.deliver(message_bytes, junk=True)     # into .Junk/new
    imap.confirm(tls="starttls")               # an ImapConfirm pointing at it
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reconciler.model import ImapConfirm, SecretRef
from tests.fixtures_postfix import (
    dovecot_passwd_auth,
    start_dovecot,
    stop_process_group,
    write_dovecot_users,
)
from tests.fixtures_smtp import LOOPBACK, Pki, free_port
from tests.realservers import require_program, unavailable

FLAG = "MAILCTL_REQUIRE_INTEROP"
_HINT = "install dovecot-core and dovecot-imapd (see .ci/install-servers)"
IMAP_USER = "probe"
IMAP_PASSWORD = "imap-Pa55word!probe"
IMAP_PASSWORD_ENV = "HOST_PROBE_IMAP_PASSWORD"


def _conf(
    root: Path, chain: Path, users: Path, home: str, uid: str, gid: str, ports: Mapping[str, int]
) -> str:
    return f"""\
protocols = imap
listen = {LOOPBACK}
base_dir = {root / "run"}
state_dir = {root / "state"}
log_path = {root / "dovecot.log"}
ssl = required
ssl_cert = <{chain}
ssl_key = <{chain}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
{dovecot_passwd_auth(users, uid=uid, gid=gid, home=home)}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Junk {{
    special_use = \\Junk
    auto = create
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = {LOOPBACK}
    port = {ports["imap"]}
  }}
  inet_listener imaps {{
    address = {LOOPBACK}
    port = {ports["imaps"]}
    ssl = yes
  }}
}}
"""


@dataclass
class DovecotImap:
    root: Path
    ports: dict[str, int]
    home: Path  # the mail home of IMAP_USER
    uid: int
    gid: int
    ca_file: str
    process: subprocess.Popen[bytes]
    users: dict[str, str] = field(default_factory=dict)

    @property
    def maildir(self) -> Path:
        return self.home / "Maildir"

    def confirm(
        self,
        tls: str = "implicit",
        *,
        username: str = IMAP_USER,
        password_env: str = IMAP_PASSWORD_ENV,
        junk: str | None = None,
        mailbox: str = "INBOX",
    ) -> ImapConfirm:
        return ImapConfirm(
            host=LOOPBACK,
            port=self.ports["imaps" if tls == "implicit" else "imap"],
            username=username,
            password=SecretRef(env=password_env),
            tls="implicit" if tls == "implicit" else "starttls",
            mailbox=mailbox,
            junk=junk,
        )

    def folder(self, junk: bool = False) -> Path:
        return self.maildir / ".Junk" if junk else self.maildir

    def deliver(self, message: bytes, *, junk: bool = False) -> Path:
        """Write ``message`` into ``new/`` as a local delivery agent would (tmp, rename)."""
        folder = self.folder(junk)
        for path in (self.maildir, folder, *(folder / sub for sub in ("tmp", "new", "cur"))):
            if not path.exists():
                path.mkdir()
                os.chown(path, self.uid, self.gid)
        name = f"{time.time_ns()}.{uuid.uuid4().hex}.mailctl-test"
        tmp = folder / "tmp" / name
        tmp.write_bytes(message)
        os.chown(tmp, self.uid, self.gid)
        final = folder / "new" / name
        tmp.rename(final)
        return final

    def files(self, junk: bool = False) -> list[Path]:
        folder = self.folder(junk)
        return [
            p for sub in ("new", "cur") if (folder / sub).is_dir() for p in (folder / sub).iterdir()
        ]

    def log_text(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        stop_process_group(self.process)


def _wait_listening(proc: subprocess.Popen[bytes], ports: list[int], root: Path) -> None:
    deadline = time.monotonic() + 15
    for port in ports:
        while True:
            try:
                with socket.create_connection((LOOPBACK, port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = root / "dovecot.log"
                    text = log.read_text(errors="replace") if log.exists() else ""
                    raise RuntimeError(f"Dovecot IMAP did not start: {text[-2000:]}") from None
                time.sleep(0.05)


def start_dovecot_imap(
    chain_pem: str,
    ca_file: str,
    *,
    home: Path | None = None,
    uid: str = "nobody",
    users: Mapping[str, str] | None = None,
) -> DovecotImap:
    """Start Dovecot IMAP. ``chain_pem``: key + certificate chain in one PEM file.
    ``home``: the mail home of every account (default: a folder of its own per user)."""
    if os.geteuid() != 0:
        unavailable(FLAG, "a throwaway Dovecot instance needs root (it drops to the mail uid)")
    require_program(FLAG, "dovecot", _HINT)
    if not Path("/usr/lib/dovecot/imap").exists():
        unavailable(FLAG, f"Dovecot's imap binary is missing: {_HINT}")
    account = pwd.getpwnam(uid)
    root = Path(tempfile.mkdtemp(prefix="mailctl-imap-"))
    os.chmod(root, 0o755)
    users = dict(users or {IMAP_USER: IMAP_PASSWORD})
    users_file = write_dovecot_users(root / "users", users)
    if home is None:
        homes = root / "home"
        homes.mkdir()
        mail_home = homes / IMAP_USER
        mail_home.mkdir()
        os.chown(mail_home, account.pw_uid, account.pw_gid)
        home_template = f"{homes}/%u"
    else:
        mail_home = home
        home_template = str(home)
    ports = {"imap": free_port(), "imaps": free_port()}
    gid = str(account.pw_gid)
    conf = _conf(root, Path(chain_pem), users_file, home_template, uid, gid, ports)
    proc = start_dovecot(root / "dovecot.conf", conf)
    imap = DovecotImap(root, ports, mail_home, account.pw_uid, account.pw_gid, ca_file, proc, users)
    try:
        _wait_listening(proc, list(ports.values()), root)
    except BaseException:
        imap.stop()
        raise
    return imap


def write_chain(pki: Pki, name: str, folder: Path) -> str:
    """``pki``'s certificate ``name`` as one key + chain PEM file readable by Dovecot."""
    leaf = pki.certs[name]
    path = folder / f"{name}-chain.pem"
    path.write_bytes(
        b"".join([leaf.private_key_pem.bytes(), *(b.bytes() for b in leaf.cert_chain_pems)])
    )
    os.chmod(path, 0o644)
    return str(path)


DovecotFactory = Callable[..., DovecotImap]


@pytest.fixture(scope="session")
def dovecot_imap(pki: Pki) -> Iterator[DovecotFactory]:
    """Factory: ``dovecot_imap(cert="good", **start_dovecot_imap kwargs)``; the default
    instance (no arguments) is shared by the session; all are stopped at session end."""
    started: list[DovecotImap] = []
    shared: dict[str, DovecotImap] = {}
    folder = Path(tempfile.mkdtemp(prefix="mailctl-imap-pki-"))
    os.chmod(folder, 0o755)

    def make(cert: str = "good", **kwargs: object) -> DovecotImap:
        if not kwargs and cert in shared:
            return shared[cert]
        imap = start_dovecot_imap(write_chain(pki, cert, folder), pki.ca_file, **kwargs)  # type: ignore[arg-type]
        started.append(imap)
        if not kwargs:
            shared[cert] = imap
        return imap

    yield make
    for imap in started:
        imap.stop()
        shutil.rmtree(imap.root, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
