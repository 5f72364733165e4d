"""Watcher benchmark: the idle CPU of the daemon, with and without a symlink to ``/`` in the
configs folder, and the time for an edit to be applied next to such a symlink.

    .venv/bin/python bench/bench_watch.py [--orgs 200] [--seconds 20]

Public tools only: ``bench/gen.py`` writes the folder, the real ``mailctl daemon`` runs as a
subprocess (``--probe off``), its CPU time (user + system, all threads) is read from
``/proc/<pid>/stat`` over an idle window after ``/readyz``, and the store is polled through
``reconciler.store.Store`` for the edit. Run it against another checkout with
``PYTHONPATH=that/checkout`` to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import daemon_argv, free_port, start_daemon, stop, with_display_name
from bench.gen import generate, org_name
from reconciler.store import open_store

TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def run(orgs: int, seconds: float, symlink_root: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mailctl-bench-watch-") as tmp:
        root = Path(tmp)
        configs = generate(root / "configs", orgs, 0.2)
        if symlink_root:
            (configs / "orgs" / "everything").symlink_to("/")
        store, log = root / "mailctl.db", root / "daemon.log"
        port = free_port()
        env = dict(os.environ, BENCH_SMTP_PASSWORD="bench-secret-value")
        extra = ("--probe", "off", "--log-format", "json")
        cmd = daemon_argv(configs, store, port, interval="1h", debounce_ms=50, extra=extra)
        proc = start_daemon(cmd, port, log, env, timeout=300)
        try:
            cpu0, t0 = _cpu_s(proc.pid), time.monotonic()
            time.sleep(seconds)
            cpu1, t1 = _cpu_s(proc.pid), time.monotonic()
            path = next(
                p
                for p in (configs / "orgs" / f"{org_name(i)}.yaml" for i in range(orgs))
                if "displayName: " in p.read_text()
            )
            text = with_display_name(path.read_text(), "Edited")
            started = time.monotonic()
            path.write_text(text)
            applied_ms = None
            with open_store(store, create=False) as st:
                before = st.data_version()
                while time.monotonic() - started < 30:
                    if st.data_version() != before:
                        applied_ms = round((time.monotonic() - started) * 1000)
                        break
                    time.sleep(0.005)
            failed = log.read_text(errors="replace").count('"watch.failed"')
        finally:
            stop(proc, timeout=30)
    return {
        "orgs": orgs,
        "symlink_to_root": symlink_root,
        "idle_s": round(t1 - t0, 1),
        "idle_cpu_percent": round(100 * (cpu1 - cpu0) / (t1 - t0), 1),
        "edit_seen_in_store_ms": applied_ms,
        "watch_failed_events": failed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    for symlink_root in (False, True):
        print(json.dumps(run(args.orgs, args.seconds, symlink_root)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
