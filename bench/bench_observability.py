"""Observability benchmark: the cost of a ``/metrics`` scrape at 10,000 scopes, and how soon
``mailctl apply`` on 10,000 orgs shows progress on a terminal.

    python bench/bench_observability.py                  # defaults below
    python bench/bench_observability.py --scopes 10000 --runs 7 --apply-runs 3

Scrape: ``DaemonMetrics`` fed with ``--scopes`` scopes' conditions (0, 10 and half of them
not Ready), rendered in the Prometheus text format and in OpenMetrics; median render time,
body size and the number of ``mailctl_scope_ready`` series (bounded: above 1,000 scopes only
not-Ready scopes keep one).

Progress: ``mailctl apply --probe off`` on a generated folder (bench/gen.py, all orgs in
default mode) with stderr on a real pseudo-terminal; the time from process start to the
first progress bytes, and to exit.
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.gen import generate  # noqa: E402
from reconciler.daemon.metrics import DaemonMetrics  # noqa: E402

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def scrape(scopes: int, not_ready: int, runs: int) -> None:
    m = DaemonMetrics()
    ok = {"Ready": {"status": "True"}, "Stalled": {"status": "False"}}
    bad = {"Ready": {"status": "False"}, "Stalled": {"status": "True"}}
    m.set_conditions({f"org/o{i:05d}": bad if i < not_ready else ok for i in range(scopes)})
    for label, accept in (("text", None), ("openmetrics", OPENMETRICS)):
        times = []
        body = b""
        for _ in range(runs):
            t = time.perf_counter()
            body, _ = m.render(accept)
            times.append((time.perf_counter() - t) * 1000)
        series = body.count(b"\nmailctl_scope_ready{")
        print(
            f"scrape {label:11s} scopes={scopes} not_ready={not_ready:5d}: "
            f"median {statistics.median(times):6.1f} ms, {len(body) / 1024:7.1f} KiB, "
            f"{series} mailctl_scope_ready series"
        )


def first_progress(configs: Path, runs: int) -> None:
    firsts, totals = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            master, slave = os.openpty()
            started = time.monotonic()
            args = ["apply", "--configs", str(configs), "--store", f"{tmp}/s.db"]
            proc = subprocess.Popen(
                [sys.executable, "-m", "reconciler", *args, "--probe", "off", "--revision", "r"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=slave,
                env={**os.environ, "TERM": "xterm", "PYTHONPATH": str(HERE.parent)},
            )
            os.close(slave)
            first = None
            while True:
                ready, _, _ = select.select([master], [], [], 0.05)
                if ready:
                    try:
                        chunk = os.read(master, 65536)
                    except OSError:
                        break
                    if not chunk:
                        break
                    first = first or time.monotonic()
                elif proc.poll() is not None:
                    break
            os.close(master)
            proc.wait()
            totals.append(time.monotonic() - started)
            if first is not None:
                firsts.append(first - started)
    print(
        f"apply {configs.name}: first progress after median "
        f"{statistics.median(firsts):.2f} s (runs {' '.join(f'{x:.2f}' for x in firsts)}); "
        f"whole apply median {statistics.median(totals):.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scopes", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--apply-runs", type=int, default=3, help="0: scrape only")
    args = parser.parse_args()
    for not_ready in (0, 10, args.scopes // 2):
        scrape(args.scopes, not_ready, args.runs)
    if args.apply_runs > 0:
        with tempfile.TemporaryDirectory() as tmp:
            configs = generate(Path(tmp) / "configs", orgs=args.scopes - 1, custom=0.0)
            first_progress(configs, args.apply_runs)


if __name__ == "__main__":
    main()
