"""Daemon benchmark: one org file edited among N orgs -> applied; and resident memory.

    .venv/bin/python bench/bench_daemon.py --orgs 10000 [--edits 7] [--debounce-ms 300] [--git]

Public tools only: ``bench/gen.py`` writes the folder, the real ``mailctl daemon`` runs as a
subprocess (``--probe off``: the probe is excluded from the target), the store is polled
through ``reconciler.store.Store`` and the daemon's own ``reconcile.finished`` log line
gives ``apply_ms`` (read + validate + combine + plan + write of the incremental run).

Reported per edit: ``wall_ms`` = from the write until the store shows the new value, minus
the debounce (so it still contains the watcher's ~20 ms step and the 2 ms store polling);
``apply_ms`` from the daemon. Memory: VmRSS (and peak VmHWM) from /proc after the first
full reconcile.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import daemon_argv, events, free_port, memory_mib, start_daemon, stop, timed_edit
from bench.gen import generate, org_name, secret_environ
from reconciler.store import open_store


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def run(orgs: int, edits: int, debounce_ms: int, use_git: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mailctl-bench-daemon-") as tmp:
        root = Path(tmp)
        configs = generate(root / "configs", orgs, 0.2)
        if use_git:
            _git(root, "init", "-q")
            _git(root, "add", "configs")
            _git(root, "commit", "-qm", "bench")
        custom = [
            i
            for i in range(orgs)
            if "mode: custom" in (configs / "orgs" / f"{org_name(i)}.yaml").read_text()
        ][:edits]
        store, log = root / "mailctl.db", root / "daemon.log"
        port = free_port()
        env = {**os.environ, **secret_environ(orgs, "bench-secret-value")}
        cmd = daemon_argv(
            configs,
            store,
            port,
            interval="1h",
            debounce_ms=debounce_ms,
            extra=("--probe", "off", "--log-format", "json"),
        )
        t0 = time.perf_counter()
        proc = start_daemon(cmd, port, log, env, cwd=root)
        try:
            start_s = time.perf_counter() - t0
            first = events(log, "reconcile.finished")[0]
            mem = memory_mib(proc.pid)
            results = []
            reader = open_store(store, create=False)
            for n, i in enumerate(custom):
                path = configs / "orgs" / f"{org_name(i)}.yaml"
                scope = f"org/{org_name(i)}"
                wall_ms, fin = timed_edit(reader, log, path, scope, f"Edited {n}", 30)
                apply_ms = fin["apply_ms"] if fin else None
                kind = fin["kind"] if fin else None
                wall_ms -= debounce_ms
                results.append({"wall_ms": round(wall_ms, 1), "apply_ms": apply_ms, "kind": kind})
                time.sleep(0.3)
            reader.close()
            mem_after = memory_mib(proc.pid)
        finally:
            code = stop(proc)
        walls = [r["wall_ms"] for r in results]
        applies = [r["apply_ms"] for r in results if r["apply_ms"] is not None]
        return {
            "orgs": orgs,
            "git": use_git,
            "debounce_ms": debounce_ms,
            "start_to_ready_s": round(start_s, 2),
            "first_full_apply_ms": first.get("apply_ms"),
            "rss_mib_after_first_reconcile": mem.get("VmRSS"),
            "peak_rss_mib": mem_after.get("VmHWM"),
            "edits": results,
            "wall_ms_minus_debounce": {
                "median": round(statistics.median(walls), 1),
                "max": round(max(walls), 1),
            },
            "apply_ms": {
                "median": round(statistics.median(applies), 1) if applies else None,
                "max": round(max(applies), 1) if applies else None,
            },
            "exit_code": code,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=10_000)
    parser.add_argument("--edits", type=int, default=7)
    parser.add_argument("--debounce-ms", type=int, default=300)
    parser.add_argument("--git", action="store_true", help="configs in a git repository")
    args = parser.parse_args()
    print(json.dumps(run(args.orgs, args.edits, args.debounce_ms, args.git), indent=2))


if __name__ == "__main__":
    main()
