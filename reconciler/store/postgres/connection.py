"""Connecting to PostgreSQL: the ``postgresql://`` store URL, its masked form, and the one
place where psycopg errors become :mod:`reconciler.errors` types.

The URL is libpq's (``postgresql://user@host:5432/db?sslmode=verify-full``). A password in
it works but is discouraged (it shows in ``ps`` and shell history); the documented way is
libpq's password file (``PGPASSFILE``, e.g. ``%d/pgpass`` from systemd's
``LoadCredential=``), see docs/postgresql.md. Whatever the URL holds, every message shows it
masked (``postgresql://mailctl:***@db/mailctl``) and the password never appears in an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

import psycopg
from psycopg import errors as pgerr
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from reconciler.errors import StoreCorruptError, StoreError, StoreLockedError
from reconciler.store.factory import mask_url

SCHEMES = ("postgresql://", "postgres://")
CONNECT_TIMEOUT_S = 10
_LOCK_HINT = "nothing is wrong with the store: retry, or raise --lock-timeout"
_REACH_HINT = (
    "check that the server runs and accepts this role from here (pg_hba.conf), the URL,"
    " and the password file (PGPASSFILE); see docs/postgresql.md"
)


def is_postgres_url(text: str) -> bool:
    return text.startswith(SCHEMES)


@dataclass(frozen=True, slots=True)
class PgTarget:
    """A parsed store URL: what to connect to, and how to name it in messages."""

    conninfo: str
    display: str  # masked
    password: str | None  # only to scrub it from server and library messages

    @classmethod
    def parse(cls, url: str) -> PgTarget:
        display = mask_url(url)
        try:
            params = conninfo_to_dict(url)
        except psycopg.Error as exc:
            text = _scrub(_one_line(exc), _url_password(url))
            raise StoreError(
                f"store URL {display} is not a valid PostgreSQL URL: {text}",
                hint="use postgresql://USER@HOST:5432/DATABASE (password via PGPASSFILE)",
            ) from None
        if not params.get("dbname"):
            raise StoreError(
                f"store URL {display} names no database",
                hint="use postgresql://USER@HOST:5432/DATABASE",
            )
        password = params.get("password")
        return cls(url, _display(params, display), str(password) if password else None)

    def connect(
        self, application_name: str, *, connect_timeout: int = CONNECT_TIMEOUT_S
    ) -> psycopg.Connection[tuple[object, ...]]:
        """An autocommit connection (transactions are explicit), or StoreError."""
        info = make_conninfo(
            self.conninfo,
            application_name=application_name[:63],
            connect_timeout=connect_timeout,
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
        )
        try:
            return psycopg.connect(info, autocommit=True, prepare_threshold=None)
        except psycopg.Error as exc:
            raise self.error(exc, "connect") from None

    def error(self, exc: BaseException, action: str, lock_timeout_s: float = 0.0) -> StoreError:
        """One line, no password, the right StoreError subtype for a psycopg failure."""
        text = _scrub(_one_line(exc), self.password)
        where = f"store {self.display}"
        if isinstance(exc, pgerr.LockNotAvailable | pgerr.DeadlockDetected):
            return StoreLockedError(
                f"{where} is busy: another mailctl process is writing to it"
                f" (waited {lock_timeout_s:g} s)",
                hint=_LOCK_HINT,
            )
        if isinstance(exc, pgerr.InsufficientPrivilege):
            return StoreError(
                f"{where}: {action} failed: {text}",
                hint="grant the mailctl role the privileges listed in docs/postgresql.md",
            )
        if isinstance(exc, pgerr.UndefinedTable | pgerr.UndefinedColumn | pgerr.DataException):
            return StoreCorruptError(
                f"{where}: {action} failed, the database does not hold a usable mailctl"
                f" store: {text}",
                hint="point --store at a mailctl store or at an empty database",
            )
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            return StoreError(f"{where}: {action} failed: {text}", hint=_REACH_HINT)
        return StoreError(
            f"{where}: {action} failed: {text}",
            hint="check the server's log; if the data broke a constraint, please report it",
        )


def _display(params: Mapping[str, object], masked: str) -> str:
    """``postgresql://user@host:port/db`` (no password, no query), or the masked URL when
    the text was a keyword conninfo."""
    if not is_postgres_url(masked):
        return masked
    user = params.get("user")
    host = params.get("host") or "localhost"
    port = params.get("port")
    auth = f"{quote(str(user), safe='')}@" if user else ""
    hostport = f"{host}:{port}" if port else str(host)
    return f"postgresql://{auth}{hostport}/{params.get('dbname')}"


def _url_password(url: str) -> str | None:
    m = re.match(r"postgres(?:ql)?://[^:/@\s]*:([^@\s]*)@", url)
    return m.group(1) if m else None


def _scrub(text: str, password: str | None) -> str:
    text = mask_url(text)
    if password:
        text = text.replace(password, "***")
    return text


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
