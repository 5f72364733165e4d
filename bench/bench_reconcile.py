"""Benchmark: plan vs validate, first apply, and a no-op second apply at N orgs.

    python bench/bench_reconcile.py [--orgs 10000] [--runs 5]

Each figure is the wall time of a whole ``mailctl`` process (what a user or CI waits for),
median of ``--runs`` runs. Targets (issue 3): plan <= 1.5x validate on the same folder;
first apply < 6 s; a second apply with nothing changed writes nothing (data version and
file contents unchanged).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import timed
from bench.gen import generate, secret_environ

PLANNED = (0, 2)  # 2: plan found changes


def median_of(runs: int, args: list[str], env: dict[str, str], before: object = None) -> float:
    samples = []
    for _ in range(runs):
        if callable(before):
            before()
        samples.append(timed(args, env, ok=PLANNED))
    return statistics.median(samples)


def digest(db: Path) -> str:
    h = hashlib.sha256()
    for suffix in ("", "-wal"):
        path = Path(f"{db}{suffix}")
        if path.exists():
            h.update(path.read_bytes())
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, **secret_environ(args.orgs), "NO_COLOR": "1"}
    with tempfile.TemporaryDirectory(prefix="mailctl-bench-") as tmp:
        configs = generate(Path(tmp) / "configs", args.orgs, 0.2)
        db = Path(tmp) / "store.db"
        common = ["--configs", str(configs)]

        def fresh_store() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)

        validate = median_of(args.runs, ["validate", *common], env)
        first = median_of(
            args.runs,
            ["apply", *common, "--store", str(db), "--probe", "off", "--revision", "r1"],
            env,
            before=fresh_store,
        )
        plan = median_of(args.runs, ["plan", *common, "--store", str(db)], env)
        before = digest(db)
        second = median_of(
            args.runs,
            ["apply", *common, "--store", str(db), "--probe", "off", "--revision", "r1"],
            env,
        )
        unchanged = digest(db) == before
        shutil.rmtree(configs)
    print(f"orgs={args.orgs} (20% custom) runs={args.runs} (median wall seconds, whole process)")
    print(f"validate            {validate:7.3f}")
    print(f"plan (store)        {plan:7.3f}   ratio plan/validate = {plan / validate:.2f} (<= 1.5)")
    print(f"first apply         {first:7.3f}   (< 6 s)")
    print(f"second apply (noop) {second:7.3f}   store bytes unchanged: {unchanged}")


if __name__ == "__main__":
    main()
