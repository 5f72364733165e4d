"""Run every benchmark with its defaults (``make bench``). Public tools only; see README.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = (
    "bench_validate.py",
    "bench_reconcile.py",
    "bench_probe.py",
    "bench_daemon.py",
    "bench_observability.py",
    "bench_secrets.py",
    "bench_probe_hang.py",
)


def main() -> int:
    failed = 0
    for name in BENCHES:
        print(f"\n=== {name}", flush=True)
        failed += subprocess.run([sys.executable, str(HERE / name)], check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
