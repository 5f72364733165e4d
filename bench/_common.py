"""What several harnesses share, public tools only: a free loopback port, a whole ``mailctl``
process timed, the real ``mailctl daemon`` as a subprocess (its command line, readiness, its
JSON log events, its stop) and one org's display name edited under it, timed until the store
shows the new value.

The daemon helpers, the silent server and the health poller serve ``tests/fixtures_daemon.py``
and ``tests/fixtures_pg.py`` too: the tests start the daemon with the same command line the
benchmarks measure and hang its probes on the same silent server.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from reconciler.store import StateStore

T = TypeVar("T")
LOOPBACK = "127.0.0.1"
MAILCTL = [sys.executable, "-m", "reconciler"]


def free_port(host: str = LOOPBACK) -> int:
    """A port that was free a moment ago on ``host``."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """Status and body of a GET (an HTTP error's own; 0 and no body: no answer at all)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()
    except OSError:
        return 0, b""


def ready(port: int) -> bool:
    """The daemon on ``port`` answers /readyz with 200."""
    return http_get(f"http://{LOOPBACK}:{port}/readyz", timeout=2)[0] == 200


def events(path: Path, name: str | None = None) -> list[dict[str, Any]]:
    """The JSON log events in ``path`` (all, or those named ``name``), in order."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and (name is None or event.get("event") == name):
            found.append(event)
    return found


def timed(
    args: list[str],
    env: dict[str, str],
    ok: tuple[int, ...] = (0,),
    cwd: Path | None = None,
    timeout: float | None = None,
) -> float:
    """Wall seconds of one whole ``mailctl ARGS`` process; any exit code not in ``ok`` ends
    the benchmark (named by its command only: the other arguments may hold a store URL)."""
    started = time.perf_counter()
    proc = subprocess.run(
        [*MAILCTL, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    elapsed = time.perf_counter() - started
    if proc.returncode not in ok:
        raise SystemExit(
            f"mailctl {' '.join(args[:1])} failed ({proc.returncode}): {proc.stderr[-2000:]}"
        )
    return elapsed


def daemon_argv(
    configs: Path,
    store: Path | str,
    port: int,
    *,
    interval: str,
    debounce_ms: int,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """The ``mailctl daemon`` command line on ``configs`` and ``store``, listening on
    127.0.0.1:``port`` (``extra``: more daemon options)."""
    return [
        *MAILCTL,
        "daemon",
        "--configs",
        str(configs),
        "--store",
        str(store),
        "--interval",
        interval,
        "--debounce-ms",
        str(debounce_ms),
        "--listen",
        f"{LOOPBACK}:{port}",
        *extra,
    ]


def start_daemon(
    argv: list[str],
    port: int,
    log: Path,
    env: dict[str, str],
    cwd: Path | None = None,
    timeout: float | None = None,
) -> subprocess.Popen[bytes]:
    """Start the daemon with its output in ``log`` and wait until it is ready (no deadline
    unless ``timeout``); a daemon that exits or misses the deadline ends the benchmark."""
    with log.open("wb") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    deadline = None if timeout is None else time.monotonic() + timeout
    while not ready(port):
        if proc.poll() is not None or (deadline is not None and time.monotonic() > deadline):
            stop(proc)
            raise SystemExit(f"daemon did not get ready:\n{log.read_text()[-2000:]}")
        time.sleep(0.05)
    return proc


def stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> int:
    """SIGTERM and wait; a process still running after ``timeout`` is killed (-9)."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return -9


def memory_mib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of ``pid`` from /proc, in MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) // 1024
    return out


def store_bytes(db: Path) -> int:
    """The SQLite database file and its WAL, as ``du`` would count them for a backup."""
    return sum(
        Path(f"{db}{suffix}").stat().st_size
        for suffix in ("", "-wal")
        if Path(f"{db}{suffix}").exists()
    )


def change_host(
    configs: Path, db: Path, first_port: int, n: int, apply_one: Callable[[int], T]
) -> tuple[list[T], list[int]]:
    """Change the host's SMTP port ``n`` times (``first_port``, the next, ...), each change
    followed by ``apply_one(i)``: what each returned, and the store's size before the first
    change and after each."""
    host = configs / "host.yaml"
    text = host.read_text()
    results, sizes = [], [store_bytes(db)]
    for i in range(n):
        host.write_text(re.sub(r"port: \d+", f"port: {first_port + i}", text, count=1))
        results.append(apply_one(i))
        sizes.append(store_bytes(db))
    return results, sizes


def with_display_name(text: str, name: str) -> str:
    """A manifest's ``text`` with its (first) ``displayName`` set to ``name``."""
    current = text.split("displayName: ", 1)[1].split("\n", 1)[0]
    return text.replace(f"displayName: {current}", f"displayName: {name}")


def timed_edit(
    reader: StateStore, log: Path, path: Path, scope: str, want: str, limit_s: float
) -> tuple[float, dict[str, Any] | None]:
    """Set the display name in ``path`` to ``want`` under a running daemon: milliseconds from
    the write until ``scope`` in the store shows it (polled every 2 ms; over ``limit_s`` ends
    the benchmark), and the daemon's ``reconcile.finished`` event of that run (None: none
    logged within 5 s after)."""
    before = len(events(log, "reconcile.finished"))
    text = with_display_name(path.read_text(), want)
    t_write = time.perf_counter()
    path.write_text(text)
    while True:
        rec = reader.get(scope)
        if rec is not None and rec.effective.get("from.displayName") == want:
            break
        if time.perf_counter() - t_write > limit_s:
            raise SystemExit(f"edit of {scope} not applied after {limit_s:g} s")
        time.sleep(0.002)
    wall_ms = (time.perf_counter() - t_write) * 1000
    deadline = time.monotonic() + 5
    while len(events(log, "reconcile.finished")) <= before and time.monotonic() < deadline:
        time.sleep(0.01)
    fin = events(log, "reconcile.finished")[before:]
    return wall_ms, fin[0] if fin else None


class SilentServer:
    """Accepts TCP connections on ``host`` and never says a word: an SMTP server that hangs."""

    def __init__(self, host: str) -> None:
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(1024)
        self.sock.settimeout(0.1)
        self.host, self.port = host, int(self.sock.getsockname()[1])
        self.conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                self.conns.append(self.sock.accept()[0])
            except (TimeoutError, OSError):
                continue

    @property
    def accepted(self) -> int:
        return len(self.conns)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        for conn in self.conns:
            conn.close()


class HealthPoller:
    """GETs the daemon's /healthz every 50 ms from a thread until stopped; ``samples`` holds
    each answer's status (0: none) and milliseconds."""

    def __init__(self, port: int) -> None:
        self.url = f"http://{LOOPBACK}:{port}/healthz"
        self.samples: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.05):
            t = time.perf_counter()
            code = http_get(self.url)[0]
            self.samples.append((code, (time.perf_counter() - t) * 1000))

    def stop(self) -> list[int]:
        """Stop polling; the status of every answer, in order."""
        self._stop.set()
        self._thread.join(10)
        return [code for code, _ in self.samples]
