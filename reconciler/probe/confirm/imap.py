"""Confirmation over IMAP (``probe.confirm.imap``), with the standard library's ``imaplib``.

One connection per confirmation: implicit TLS (993) or STARTTLS (143, never a plaintext
login), certificate and host name verified against the system store plus ``--ca-file``.
Each poll re-``SELECT``s the mailbox (and the junk mailbox) and runs
``UID SEARCH HEADER X-Mailctl-Probe <id>``; a found message is flagged ``\\Deleted`` and
expunged (``UID EXPUNGE`` when the server has UIDPLUS). Without an explicit ``junk``, the
mailbox the server marks ``\\Junk`` (RFC 6154 special use) is searched too.

``imaplib`` blocks, so every call runs on a small dedicated thread pool and is bounded by
a socket timeout; a cancelled confirmation shuts the socket down so the thread returns.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import imaplib
import re
import socket
import ssl
import threading
from collections.abc import Callable
from typing import TypeVar

from reconciler.model import ImapConfirm
from reconciler.probe import classify as C
from reconciler.probe.classes import FailureClass as F
from reconciler.probe.confirm.mailbox import CONFIRM_AUTH_REJECTED, CONFIRM_MAILBOX, Found, Where
from reconciler.probe.connection import tls_context

T = TypeVar("T")

_POOL_LOCK = threading.Lock()
_POOL: concurrent.futures.ThreadPoolExecutor | None = None
_JUNK_FLAG = re.compile(rb"\\Junk\b", re.IGNORECASE)
_UID = re.compile(rb"\bUID (\d+)")
_HEADER_VALUE = re.compile(rb"^X-Mailctl-Probe:(.*?)\r?$", re.IGNORECASE | re.MULTILINE)
_LIST_NAME = re.compile(rb'^\((?P<flags>[^)]*)\)\s+(?:"[^"]*"|NIL)\s+(?P<name>.+)$')


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = concurrent.futures.ThreadPoolExecutor(8, thread_name_prefix="mailctl-imap")
        return _POOL


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(data: object) -> str:
    if isinstance(data, list | tuple):
        data = b" ".join(x if isinstance(x, bytes) else str(x).encode() for x in data)
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return str(data)


def _transport_failure(exc: BaseException, connecting: bool) -> C.Failure:
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or str(exc)
        return C.Failure(
            F.TLS_CERTIFICATE,
            f"IMAP: certificate verify failed: {reason}",
            verify_code=C.cert_verify_code(exc),
        )
    if isinstance(exc, ssl.SSLError):
        return C.Failure(F.TLS_HANDSHAKE, f"IMAP: TLS handshake failed: {exc.reason or exc}")
    if isinstance(exc, socket.gaierror):
        return C.Failure(F.DNS, f"IMAP: cannot resolve the host: {exc.strerror or exc}")
    if isinstance(exc, TimeoutError):
        cls = F.CONNECT_TIMEOUT if connecting else F.TIMEOUT
        return C.Failure(cls, "IMAP: the server did not answer in time")
    if isinstance(exc, ConnectionRefusedError):
        return C.Failure(F.CONNECT_REFUSED, "IMAP: connection refused")
    if isinstance(exc, OSError):
        cls = F.CONNECT_UNREACHABLE if connecting else F.PROTOCOL
        return C.Failure(cls, f"IMAP: {exc.strerror or exc}")
    return C.Failure(F.PROTOCOL, f"IMAP: {exc}")


class ImapMailbox:
    """The ``Mailbox`` protocol over one IMAP connection."""

    def __init__(
        self, config: ImapConfirm, password: str, ca_file: str | None, timeout: float
    ) -> None:
        self.config = config
        self._password = password
        self._ca_file = ca_file
        self._timeout = timeout
        self._conn: imaplib.IMAP4 | None = None
        self._junk = config.junk
        self._uidplus = False

    def describe(self) -> str:
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        return f"imap://{host}:{self.config.port}"

    async def _run(self, fn: Callable[[], T]) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(_pool(), fn)
        except asyncio.CancelledError:
            self._abort()  # unblocks the pool thread; close() then logs out
            raise

    # -- blocking parts (pool threads) ----------------------------------------------

    def _connect(self) -> None:
        cfg = self.config
        try:
            ctx = tls_context(self._ca_file)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise C.Failure(
                F.TLS_CERTIFICATE,
                f"cannot load --ca-file {self._ca_file}: {exc}",
                verify_code=C.CA_FILE_UNREADABLE,
            ) from None
        try:
            if cfg.tls == "implicit":
                conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    cfg.host, cfg.port, ssl_context=ctx, timeout=self._timeout
                )
            else:
                conn = imaplib.IMAP4(cfg.host, cfg.port, timeout=self._timeout)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise _transport_failure(exc, connecting=True) from None
        self._conn = conn
        try:
            if cfg.tls == "starttls":
                if "STARTTLS" not in conn.capabilities:
                    raise C.Failure(
                        F.STARTTLS_UNAVAILABLE, "IMAP: the server does not offer STARTTLS"
                    )
                conn.starttls(ssl_context=ctx)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise _transport_failure(exc, connecting=True) from None
        try:
            conn.login(cfg.username, self._password)
        except imaplib.IMAP4.abort as exc:
            raise _transport_failure(exc, connecting=False) from None
        except imaplib.IMAP4.error as exc:
            raise C.Failure(
                CONFIRM_AUTH_REJECTED, f"IMAP login rejected: {_text(exc.args)}"
            ) from None
        except OSError as exc:
            raise _transport_failure(exc, connecting=False) from None
        self._uidplus = "UIDPLUS" in conn.capabilities
        if self._junk is None:
            self._junk = self._special_junk(conn)

    @staticmethod
    def _special_junk(conn: imaplib.IMAP4) -> str | None:
        typ, lines = conn.list()
        if typ != "OK":
            return None
        for line in lines:
            if not isinstance(line, bytes):
                continue
            match = _LIST_NAME.match(line)
            if match and _JUNK_FLAG.search(match.group("flags")):
                name = match.group("name").strip()
                if name.startswith(b'"') and name.endswith(b'"'):
                    name = name[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
                return name.decode("utf-8", "replace")
        return None

    def _select(self, conn: imaplib.IMAP4, name: str) -> None:
        typ, data = conn.select(_quote(name))
        if typ != "OK":
            raise C.Failure(CONFIRM_MAILBOX, f"IMAP: cannot open mailbox {name}: {_text(data)}")

    def _search(self, probe_id: str) -> Found | None:
        conn = self._conn
        assert conn is not None
        folders: list[tuple[Where, str]] = [("inbox", self.config.mailbox)]
        if self._junk and self._junk != self.config.mailbox:
            folders.append(("junk", self._junk))
        try:
            for where, name in folders:
                self._select(conn, name)
                typ, data = conn.uid("SEARCH", "HEADER", "X-Mailctl-Probe", probe_id)
                if typ != "OK":
                    raise C.Failure(F.PROTOCOL, f"IMAP: SEARCH failed: {_text(data)}")
                candidates = [u.decode("ascii") for u in (data[0] or b"").split()]
                uids = self._exact(conn, candidates, probe_id) if candidates else ()
                if uids:
                    return Found(where, name, uids)
        except imaplib.IMAP4.error as exc:
            if isinstance(exc, imaplib.IMAP4.abort):
                raise _transport_failure(exc, connecting=False) from None
            raise C.Failure(F.PROTOCOL, f"IMAP: {_text(exc.args)}") from None
        except OSError as exc:
            raise _transport_failure(exc, connecting=False) from None
        return None

    @staticmethod
    def _exact(conn: imaplib.IMAP4, uids: list[str], probe_id: str) -> tuple[str, ...]:
        """IMAP SEARCH matches substrings: keep the messages whose header is exactly the id."""
        typ, data = conn.uid(
            "FETCH", ",".join(uids), "(UID BODY.PEEK[HEADER.FIELDS (X-MAILCTL-PROBE)])"
        )
        if typ != "OK":
            raise C.Failure(F.PROTOCOL, f"IMAP: FETCH failed: {_text(data)}")
        exact: list[str] = []
        for item in data:
            if not isinstance(item, tuple) or len(item) < 2:
                continue
            meta, header = item[0], item[1]
            uid = _UID.search(meta) if isinstance(meta, bytes) else None
            if uid is None or not isinstance(header, bytes):
                continue
            values = _HEADER_VALUE.findall(header)
            if any(v.strip().decode("ascii", "replace") == probe_id for v in values):
                exact.append(uid.group(1).decode("ascii"))
        return tuple(exact)

    def _expunge(self, found: Found) -> None:
        conn = self._conn
        assert conn is not None
        uids = ",".join(found.handle)
        try:
            self._select(conn, found.folder)
            typ, data = conn.uid("STORE", uids, "+FLAGS.SILENT", "(\\Deleted)")
            if typ != "OK":
                raise C.Failure(F.PROTOCOL, f"IMAP: cannot flag the message: {_text(data)}")
            if self._uidplus:
                typ, data = conn.uid("EXPUNGE", uids)
            else:
                typ, data = conn.expunge()
            if typ != "OK":
                raise C.Failure(F.PROTOCOL, f"IMAP: EXPUNGE failed: {_text(data)}")
        except imaplib.IMAP4.error as exc:
            raise C.Failure(F.PROTOCOL, f"IMAP: {_text(exc.args)}") from None
        except OSError as exc:
            raise _transport_failure(exc, connecting=False) from None

    def _logout(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            conn.logout()
        with contextlib.suppress(Exception):
            conn.shutdown()

    def _abort(self) -> None:
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.socket().shutdown(socket.SHUT_RDWR)

    # -- the Mailbox protocol ------------------------------------------------------

    async def open(self) -> None:
        await self._run(self._connect)

    async def find(self, probe_id: str) -> Found | None:
        return await self._run(lambda: self._search(probe_id))

    async def remove(self, found: Found) -> None:
        await self._run(lambda: self._expunge(found))

    async def close(self) -> None:
        await self._run(self._logout)
