"""``python -m reconciler.devtools.demo`` (what ``make run`` starts): the local sink and the daemon.

1. ``mailctl sink`` on 127.0.0.1:2525 with STARTTLS (a generated CA written to
   ``.mailctl/sink-ca.pem``) and AUTH user ``demo`` (password from ``INITECH_SMTP_PASSWORD``;
   the demo sets a throwaway value in its own environment when it is unset);
2. ``mailctl daemon`` on ``configs/`` with the store ``.mailctl/mailctl.db`` trusting that CA;
3. checks that the first reconcile applied every scope and every probe passed.

Ctrl-C (or SIGTERM) stops both children cleanly and exits 0.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

DEMO_PASSWORD = "demo-only-password"  # a local, throwaway sink account


def _wait(what: str, check: object, procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise SystemExit(f"demo: a process exited while waiting for {what}")
        if callable(check) and check():
            return
        time.sleep(0.1)
    raise SystemExit(f"demo: timed out waiting for {what}")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def _report_first_reconcile(store: Path, wait_s: float = 30.0) -> bool:
    """After /readyz: the probes run after the commit; wait (bounded) for their results."""
    from reconciler import conditions as cond
    from reconciler.store import open_store

    deadline = time.monotonic() + wait_s
    with open_store(store, create=False) as st:
        records = st.scopes()
        while any(r.probe is None for r in records.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
            records = st.scopes()
    failed = [
        s
        for s, r in records.items()
        if r.probe is None or r.probe.get("status") != "passed" or not cond.is_ready(r.conditions)
    ]
    if failed:
        print(f"demo: first reconcile: not Ready: {', '.join(failed)}", flush=True)
        return False
    confirmed = sum(1 for r in records.values() if (r.probe or {}).get("delivery"))
    print(
        f"demo: first reconcile applied {len(records)} scope{'s' if len(records) != 1 else ''} "
        f"({', '.join(records)}); every probe passed against the sink"
        + (f", delivery confirmed for {confirmed} in its Maildir" if confirmed else ""),
        flush=True,
    )
    return True


def _mailctl_command() -> str:
    """How to run mailctl from the user's shell: the script beside this interpreter (e.g.
    ``.venv/bin/mailctl``, which need not be on PATH), else ``python -m reconciler``."""
    script = Path(sys.executable).with_name("mailctl")
    if not script.exists():
        return f"{sys.executable} -m reconciler"
    try:
        return os.path.relpath(script)
    except ValueError:
        return str(script)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the local SMTP sink and the daemon.")
    parser.add_argument("--configs", default="configs")
    parser.add_argument("--state-dir", default=".mailctl")
    parser.add_argument("--smtp", default="127.0.0.1:2525", help="sink address")
    parser.add_argument("--listen", default="127.0.0.1:9310", help="daemon HTTP address")
    parser.add_argument("--interval", default="1m", help="daemon resync interval")
    args = parser.parse_args(argv)

    state = Path(args.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    ca, store, maildir = state / "sink-ca.pem", state / "mailctl.db", state / "maildir"
    env = dict(os.environ)
    env.setdefault("INITECH_SMTP_PASSWORD", DEMO_PASSWORD)
    if not Path(args.configs).is_dir():
        print(f"demo: configs folder {args.configs} does not exist", file=sys.stderr)
        return 1
    ca.unlink(missing_ok=True)
    smtp_host, _, smtp_port = args.smtp.rpartition(":")
    py = [sys.executable, "-m", "reconciler"]
    procs: list[subprocess.Popen[bytes]] = []
    stopping = False

    def _stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    code = 0
    try:
        sink_cmd = [
            *py,
            "sink",
            "--listen",
            args.smtp,
            "--tls",
            "starttls",
            "--ca-out",
            str(ca),
            "--user",
            "demo:INITECH_SMTP_PASSWORD",
            "--maildir",
            str(maildir),
        ]
        procs.append(subprocess.Popen(sink_cmd, env=env))
        _wait(
            "the sink",
            lambda: ca.exists() and _port_open(smtp_host, int(smtp_port)),
            procs,
            15,
        )
        procs.append(
            subprocess.Popen(
                [
                    *py,
                    "daemon",
                    "--configs",
                    args.configs,
                    "--store",
                    str(store),
                    "--ca-file",
                    str(ca),
                    "--interval",
                    args.interval,
                    "--debounce-ms",
                    "300",
                    "--listen",
                    args.listen,
                ],
                env=env,
            )
        )
        _wait("the first reconcile", lambda: _http_ok(f"http://{args.listen}/readyz"), procs, 60)
        ok = _report_first_reconcile(store)
        print(
            "demo: running. Edit a file (e.g. change displayName in "
            f"{args.configs}/orgs/globex.yaml) and watch it apply and probe here.\n"
            f"demo: status: {_mailctl_command()} status --store {store}    "
            f"metrics: curl http://{args.listen}/metrics\n"
            f"demo: test mail lands in {maildir}/new; probes with probe.confirm find it "
            "there and remove it. Ctrl-C stops both.",
            flush=True,
        )
        code = 0 if ok else 3
        while not stopping:
            if any(p.poll() is not None for p in procs):
                print("demo: a process exited unexpectedly; stopping", file=sys.stderr)
                code = 1
                break
            time.sleep(0.2)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        code = 1
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    if stopping:
        print("demo: stopped", flush=True)
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
