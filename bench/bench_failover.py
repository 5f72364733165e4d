"""Takeover on a shared PostgreSQL store: how long after the leader dies a standby applies
the next edit, at N orgs.

    python bench/bench_failover.py [--orgs 10000 [--orgs 100000]] [--kills 3]

Public tools only. ``bench/gen.py`` writes the folder (20 % custom, half with auth); a
first ``mailctl apply`` fills a fresh database on the PostgreSQL server of
``MAILCTL_BENCH_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``; the bench
creates and drops its own database). Two real ``mailctl daemon`` processes share it
(``--probe off``, the default lease: renewed every 5 s, expiring after 15 s). Each round
SIGKILLs the leader, edits one custom org's display name at once, and measures until the
store shows the edit:

- ``takeover s``: from the kill until the standby's ``leader.acquired`` (bounded below by
  what was left of the dead leader's lease, at most the lease duration);
- ``apply after takeover s``: from ``leader.acquired`` until the edit is in the store (the
  new leader's first full reconcile: read the configs and the store, plan, write);
- ``kill to edit applied s``: the sum, which DESIGN §13 bounds by lease duration + 5 s.

A replacement standby is started after each kill, so there are always two daemons.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import daemon_argv, events, free_port, ready, stop, timed, with_display_name
from bench.bench_pg import APPLIED, fresh_schema, pg_database
from bench.gen import generate, org_name, secret_environ
from reconciler.store import open_store

LEASE_DURATION_S = 15.0  # the daemon's default --lease-duration


class Daemon:
    """One ``mailctl daemon`` on the shared store (default lease), its log in ``root``."""

    def __init__(self, name: str, store: str, configs: Path, env: dict[str, str], root: Path):
        self.port = free_port()
        self.log = root / f"{name}.log"
        argv = daemon_argv(
            configs,
            store,
            self.port,
            interval="1h",
            debounce_ms=300,
            extra=("--probe", "off", "--log-format", "json", "--revision", "r1"),
        )
        with self.log.open("wb") as fh:
            self.proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env=env)

    def leading(self) -> bool:
        return self.proc.poll() is None and bool(events(self.log, "leader.acquired"))


def wait(what: str, until: Callable[[], bool], timeout: float, every: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(every)


def on_bench_clock(stamp: str) -> float:
    """A log event's ``ts`` (ISO 8601, UTC) as a ``time.perf_counter`` value."""
    wall = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    return wall - (time.time() - time.perf_counter())


def run(orgs: int, kills: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="mailctl-bench-failover-") as tmp, pg_database() as db:
        root = Path(tmp)
        env = {**os.environ, **secret_environ(orgs), "NO_COLOR": "1"}
        env["MAILCTL_FINGERPRINT_KEY_FILE"] = str(root / "fingerprint.key")
        configs = generate(root / "configs", orgs, 0.2)
        store = fresh_schema(db)
        apply = ["apply", "--configs", str(configs), "--store", store, "--probe", "off"]
        first = timed([*apply, "--revision", "r1"], env, ok=APPLIED)
        custom = [
            i
            for i in range(orgs)
            if "mode: custom" in (configs / "orgs" / f"{org_name(i)}.yaml").read_text()
        ][:kills]
        daemons = [Daemon(f"d{n}", store, configs, env, root) for n in range(2)]
        takeover, applied, total = [], [], []
        try:
            for d in daemons:
                wait(f"{d.log.name} ready", lambda d=d: ready(d.port), 600, every=0.1)
            with open_store(store, create=False) as reader:
                for n, i in enumerate(custom):
                    wait(
                        "one leader", lambda ds=daemons: sum(d.leading() for d in ds) == 1, 60, 0.1
                    )
                    leader = next(d for d in daemons if d.leading())
                    standby = next(d for d in daemons if d is not leader)
                    want = f"Failover {n} {secrets.token_hex(2)}"
                    t0 = time.perf_counter()
                    leader.proc.send_signal(signal.SIGKILL)
                    leader.proc.wait()
                    path = configs / "orgs" / f"{org_name(i)}.yaml"
                    path.write_text(with_display_name(path.read_text(), want))
                    scope = f"org/{org_name(i)}"

                    def shown(scope: str = scope, want: str = want) -> bool:
                        rec = reader.get(scope)
                        return rec is not None and rec.effective.get("from.displayName") == want

                    wait(f"edit {n} in the store", shown, LEASE_DURATION_S + 600, every=0.005)
                    t_done = time.perf_counter()
                    wait("leader.acquired logged", lambda s=standby: s.leading(), 10)
                    t_acq = on_bench_clock(events(standby.log, "leader.acquired")[-1]["ts"])
                    takeover.append(t_acq - t0)
                    applied.append(t_done - t_acq)
                    total.append(t_done - t0)
                    daemons = [standby, Daemon(f"d{n + 2}", store, configs, env, root)]
                    wait("replacement ready", lambda d=daemons[1]: ready(d.port), 600, 0.1)
        finally:
            for d in daemons:
                stop(d.proc, timeout=30)
    return {
        "first apply s": round(first, 2),
        "takeover s": round(statistics.median(takeover), 2),
        "apply after takeover s": round(statistics.median(applied), 2),
        "kill to edit applied s": round(statistics.median(total), 2),
        "worst kill to edit applied s": round(max(total), 2),
        "rounds (takeover s, apply s)": [
            (round(a, 2), round(b, 2)) for a, b in zip(takeover, applied, strict=True)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, action="append")
    parser.add_argument("--kills", type=int, default=3)
    args = parser.parse_args()
    load = os.getloadavg()
    for orgs in args.orgs or [10_000]:
        row = run(orgs, args.kills)
        print(
            json.dumps(
                {"orgs": orgs, "kills": args.kills, **row, "load_before": round(load[0], 1)}
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
