"""A real PostgreSQL server for the store tests: one throwaway database per test session,
one fresh schema per test.

The server is ``MAILCTL_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``,
trust auth). The session creates ``mailctl_test_<pid>_<random>`` and drops it at the end
(``WITH (FORCE)``: daemons killed by a test may leave sessions behind). Each test's store
lives in its own schema, selected by the URL's ``search_path`` option, so tests never see
each other's rows. Without a reachable server the tests skip with the reason;
``MAILCTL_REQUIRE_PG=1`` (set by ``.ci/run``) turns that into a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from bench._common import LOOPBACK, daemon_argv, events, free_port, http_get
from reconciler.store import StateStore, open_store
from reconciler.store.postgres.schema import WRITE_LOCK
from tests.fixtures_daemon import atomic_write, clean_env, wait_for
from tests.fixtures_repo import GIT_ENV, ConfigRepo
from tests.realservers import unavailable

FLAG = "MAILCTL_REQUIRE_PG"
ADMIN_URL = os.environ.get("MAILCTL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass(frozen=True, slots=True)
class PgDatabase:
    admin_url: str
    name: str

    def url(self, schema: str | None = None) -> str:
        base = ADMIN_URL.rsplit("/", 1)[0] + "/" + self.name
        if schema is None:
            return base
        return f"{base}?options={quote(f'-csearch_path={schema}', safe='')}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url(), autocommit=True, connect_timeout=15)


def _connect_admin() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())[:200]
        unavailable(FLAG, f"PostgreSQL is not reachable at {ADMIN_URL} ({reason})")


_session: PgDatabase | None = None


def session_database() -> PgDatabase:
    """The database of this test session on the real server (made on first use, dropped
    when the session ends); skips (or fails under MAILCTL_REQUIRE_PG=1) without a server."""
    global _session
    if _session is None:
        with _connect_admin() as conn:
            name = f"mailctl_test_{os.getpid()}_{secrets.token_hex(3)}"
            conn.execute(f'CREATE DATABASE "{name}"')
        _session = PgDatabase(ADMIN_URL, name)
    return _session


@pytest.fixture(scope="session", autouse=True)
def _drop_session_database() -> Iterator[None]:
    yield
    if _session is not None:
        with _connect_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{_session.name}" WITH (FORCE)')


@contextmanager
def fresh_database() -> Iterator[str]:
    """A store URL of a fresh, empty schema in the session's database; dropped afterwards
    (with the sessions mailctl left in it)."""
    db = session_database()
    schema = f"t_{secrets.token_hex(4)}"
    with db.admin() as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield db.url(schema)
    finally:
        with db.admin() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND application_name LIKE 'mailctl%%'"
            )
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def pg_database() -> PgDatabase:
    return session_database()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A store URL of a fresh, empty schema in the session's database."""
    with fresh_database() as url:
        yield url


@pytest.fixture
def pg_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``MAILCTL_FINGERPRINT_KEY_FILE`` for this test (a PostgreSQL store requires it)."""
    path = tmp_path / "keys" / "mailctl.key"
    path.parent.mkdir(mode=0o700)
    monkeypatch.setenv("MAILCTL_FINGERPRINT_KEY_FILE", str(path))
    return path


# ---------------------------------------------------------------------------- daemons

LEASE_INTERVAL = "0.3s"  # short lease settings: failover tests finish in seconds
LEASE_DURATION_S = 2.0


@dataclass
class PgDaemon:
    """One real ``mailctl daemon`` process on the shared store."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    err: Path

    def get(self, path: str) -> tuple[int, bytes]:
        return http_get(f"http://{LOOPBACK}:{self.port}{path}", timeout=10)

    def leading(self) -> bool | None:
        """``mailctl_leader`` from /metrics (None: no answer)."""
        status, body = self.get("/metrics")
        if status != 200:
            return None
        for line in body.decode().splitlines():
            if line.startswith("mailctl_leader "):
                return float(line.split()[1]) == 1.0
        return None

    def holder(self) -> str:
        status, body = self.get("/status")
        assert status == 200, body
        return str(json.loads(body)["leader"]["holder"])

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        return events(self.err, name)

    def alive(self) -> bool:
        return self.proc.poll() is None


class PgCluster:
    """Daemons of one test on one PostgreSQL store and one configs folder."""

    def __init__(self, url: str, configs: Path, root: Path, key_file: Path) -> None:
        self.url = url
        self.configs = configs
        self.root = root
        self.env = clean_env(MAILCTL_FINGERPRINT_KEY_FILE=str(key_file), MAILCTL_ACTOR="t")
        self.env.update(GIT_ENV)
        self.daemons: list[PgDaemon] = []
        self._monitor: psycopg.Connection[tuple[Any, ...]] | None = None

    def start(self, name: str, *, debounce_ms: int = 100) -> PgDaemon:
        port = free_port()
        err = self.root / f"{name}.err"
        lease = ("--lease-interval", LEASE_INTERVAL, "--lease-duration", f"{LEASE_DURATION_S:g}s")
        argv = daemon_argv(
            self.configs,
            self.url,
            port,
            interval="10m",
            debounce_ms=debounce_ms,
            extra=("--probe", "off", *lease),
        )
        with (self.root / f"{name}.out").open("wb") as out_fh, err.open("wb") as err_fh:
            proc = subprocess.Popen(argv, stdout=out_fh, stderr=err_fh, env=self.env)
        daemon = PgDaemon(name, proc, port, err)
        self.daemons.append(daemon)
        wait_for(f"{name} /healthz", lambda: daemon.get("/healthz")[0] == 200, 20)
        return daemon

    def leader(self, timeout: float = 15.0, but: PgDaemon | None = None) -> PgDaemon:
        """The one live daemon that leads (exactly one, and not ``but``)."""

        def one() -> PgDaemon | None:
            live = [d for d in self.daemons if d.alive() and d is not but]
            leaders = [d for d in live if d.leading()]
            return leaders[0] if len(leaders) == 1 else None

        return wait_for("exactly one leader", one, timeout)

    def store(self) -> StateStore:
        return open_store(self.url, create=False)

    def lease_holder(self) -> tuple[str, PgDaemon]:
        """The lease's holder (as the database says) and its daemon (by the pid in it)."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute("SELECT holder FROM mailctl_lease").fetchone()
        assert row is not None and row[0], row
        holder = str(row[0])
        pid = int(holder.split("/")[1])
        return holder, next(d for d in self.daemons if d.proc.pid == pid)

    def revision(self) -> str | None:
        with self.store() as st:
            return st.current_revision()

    def wait_revision(self, revision: str, timeout: float) -> float:
        """Seconds until the store's revision is ``revision``."""
        t0 = time.monotonic()
        wait_for(f"store revision {revision}", lambda: self.revision() == revision, timeout)
        return time.monotonic() - t0

    def monitor(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._monitor is None or self._monitor.closed:
            self._monitor = psycopg.connect(self.url, autocommit=True, connect_timeout=15)
        return self._monitor

    def stop_all(self) -> None:
        if self._monitor is not None:
            self._monitor.close()
        for d in self.daemons:
            if d.alive():
                if d.proc.pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(d.proc.pid, signal.SIGCONT)
                d.proc.terminate()
        for d in self.daemons:
            try:
                d.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                d.proc.kill()
                d.proc.wait()


def commit_then_write(repo: ConfigRepo, rel: str, text: str, message: str = "edit") -> str:
    """Commit ``text`` as configs/``rel`` first, then write the file (atomically): a daemon
    that sees the change reads the new commit as a clean revision. Returns the commit."""
    blob = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"],
        cwd=repo.root,
        input=text,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    repo.git("update-index", "--add", "--cacheinfo", f"100644,{blob},configs/{rel}")
    repo.git("commit", "-q", "-m", message)
    atomic_write(repo.configs / rel, text)
    return repo.git("rev-parse", "HEAD")


def write_lock_holder(cluster: PgCluster) -> str | None:
    """The application_name of the session holding the store's write lock, if any (on one
    kept connection: polling must be quicker than a transaction, also on a loaded box).
    Advisory locks are server-wide: only this test's database counts, not another test's
    cluster on the same server."""
    row = (
        cluster.monitor()
        .execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            " WHERE l.locktype = 'advisory' AND l.granted"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND ((l.classid::bigint << 32) | l.objid::bigint) = %s",
            (WRITE_LOCK,),
        )
        .fetchone()
    )
    return None if row is None else str(row[0])


@pytest.fixture
def pg_cluster(
    pg_url: str, repo: ConfigRepo, tmp_path: Path, pg_key_file: Path
) -> Iterator[PgCluster]:
    """Factory of real daemons on a fresh PostgreSQL store and the ``repo`` configs."""
    cluster = PgCluster(pg_url, repo.configs, tmp_path, pg_key_file)
    try:
        yield cluster
    finally:
        cluster.stop_all()
