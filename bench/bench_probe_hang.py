"""Daemon benchmark: edit latency while N probes hang on a silent SMTP server.

    .venv/bin/python bench/bench_probe_hang.py --hanging 200 [--edits 7] [--debounce-ms 300]

Public tools only: an aiosmtpd server (fast, plaintext on 127.0.0.1) and a TCP server on
127.0.0.2 that accepts connections and never answers (a hung SMTP server), both in this
process; ``bench/gen``-style manifests written here (N custom orgs on the silent server
with ``timeoutMs: 20000``, one custom org on the fast server); the real ``mailctl daemon``
(policy ``after``) as a subprocess; the store polled through ``reconciler.store.Store``.

Reported, with probes hanging (and again with ``--probe off`` as the baseline):
``wall_ms`` per edit = from the write until the store shows the new value, minus the
debounce; the daemon's ``apply_ms``; the slowest ``/healthz`` answer while it ran; how many
connections the silent server held; and SIGTERM-to-exit seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    HealthPoller,
    SilentServer,
    daemon_argv,
    free_port,
    start_daemon,
    stop,
    timed_edit,
)
from reconciler.store import open_store

SILENT_HOST = "127.0.0.2"


class _Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


def _org(name: str, host: str, port: int, timeout_ms: int, display: str) -> str:
    return (
        "apiVersion: mailctl/v1\nkind: OrgMailSettings\n"
        f"metadata:\n  name: {name}\nspec:\n  mode: custom\n"
        f"  smtp:\n    host: {host}\n    port: {port}\n    tls: none\n"
        f"    timeoutMs: {timeout_ms}\n"
        f"  from:\n    address: alerts@{name}.example\n    displayName: {display}\n"
        f"  probe:\n    to: probe@{name}.example\n"
    )


def _host(port: int) -> str:
    return (
        "apiVersion: mailctl/v1\nkind: HostMailSettings\nspec:\n  mode: custom\n"
        f"  smtp:\n    host: 127.0.0.1\n    port: {port}\n    tls: none\n"
        "  from:\n    address: notify@platform.example\n"
        "  probe:\n    to: probe@platform.example\n"
    )


def _health_report(health: HealthPoller) -> dict[str, Any]:
    codes = sorted(set(health.stop()))
    worst = max((ms for _, ms in health.samples), default=0.0)
    return {"samples": len(health.samples), "codes": codes, "max_ms": round(worst, 1)}


def run(hanging: int, edits: int, debounce_ms: int, policy: str) -> dict[str, Any]:
    silent = SilentServer(SILENT_HOST)
    fast = Controller(_Sink(), hostname="127.0.0.1", port=free_port())
    fast.start()
    try:
        with tempfile.TemporaryDirectory(prefix="mailctl-bench-hang-") as tmp:
            root = Path(tmp)
            orgs = root / "configs" / "orgs"
            orgs.mkdir(parents=True)
            (root / "configs" / "host.yaml").write_text(_host(fast.port))
            for i in range(hanging):
                name = f"hang{i:05d}"
                (orgs / f"{name}.yaml").write_text(
                    _org(name, SILENT_HOST, silent.port, 20000, f"Hanging {i}")
                )
            edited = orgs / "edited.yaml"
            edited.write_text(_org("edited", "127.0.0.1", fast.port, 5000, "Edit 0"))
            return _measure(root, silent, edited, edits, debounce_ms, policy)
    finally:
        fast.stop()
        silent.close()


def _measure(
    root: Path, silent: SilentServer, edited: Path, edits: int, debounce_ms: int, policy: str
) -> dict[str, Any]:
    store, log = root / "mailctl.db", root / "daemon.log"
    port = free_port()
    extra = ("--probe", policy, "--log-format", "json")
    cmd = daemon_argv(
        root / "configs", store, port, interval="1h", debounce_ms=debounce_ms, extra=extra
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILCTL_")}
    proc = start_daemon(cmd, port, log, env, cwd=root)
    health: HealthPoller | None = None
    results = []
    try:
        health = HealthPoller(port)
        if policy != "off":
            deadline = time.monotonic() + 10
            while len(silent.conns) < 4 and time.monotonic() < deadline:
                time.sleep(0.01)
        reader = open_store(store, create=False)
        for n in range(1, edits + 1):
            wall_ms, fin = timed_edit(reader, log, edited, "org/edited", f"Edit {n}", 60)
            wall_ms -= debounce_ms
            results.append(
                {"wall_ms": round(wall_ms, 1), "apply_ms": fin["apply_ms"] if fin else None}
            )
            time.sleep(0.3)
        reader.close()
        held = len(silent.conns)
    finally:
        health_report = _health_report(health) if health else {}
        t_stop = time.perf_counter()
        code = stop(proc)
        stop_s = time.perf_counter() - t_stop
    walls = [r["wall_ms"] for r in results]
    applies = [r["apply_ms"] for r in results if r["apply_ms"] is not None]
    return {
        "policy": policy,
        "edits": results,
        "wall_ms_minus_debounce": {
            "median": round(statistics.median(walls), 1),
            "max": round(max(walls), 1),
        },
        "apply_ms_median": round(statistics.median(applies), 1) if applies else None,
        "silent_connections_accepted": held,
        "healthz": health_report,
        "sigterm_exit_s": round(stop_s, 2),
        "exit_code": code,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hanging", type=int, default=200)
    parser.add_argument("--edits", type=int, default=7)
    parser.add_argument("--debounce-ms", type=int, default=300)
    args = parser.parse_args()
    out = {"hanging": args.hanging, "debounce_ms": args.debounce_ms}
    for policy in ("after", "off"):
        out[policy] = run(args.hanging, args.edits, args.debounce_ms, policy)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
