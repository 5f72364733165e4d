"""Shell completion of scope names (``mailctl effective <Tab>``) on a large set.

    python bench/bench_completion.py                 # 10,000 orgs, 5 runs, medians
    python bench/bench_completion.py --orgs 1000 --runs 3

Each figure is a whole ``mailctl`` process answering click's completion protocol
(``_MAILCTL_COMPLETE=bash_complete``), as the shell runs it on every Tab press, next to
``mailctl --version`` (interpreter and CLI start-up only). ``effective`` reads every
manifest's kind and name from the configs folder and the scope names from the store;
``probe`` reads the store only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gen import generate, secret_environ

MAILCTL = [sys.executable, "-m", "reconciler"]


def run(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run([*MAILCTL, *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"mailctl {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return elapsed, proc.stdout


def complete(words: str, env: dict[str, str], runs: int) -> tuple[float, int]:
    cenv = {
        **env,
        "_MAILCTL_COMPLETE": "bash_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
    }
    samples, count = [], 0
    for _ in range(runs):
        elapsed, out = run([], cenv)
        samples.append(elapsed)
        count = sum(1 for line in out.splitlines() if line.startswith("plain,"))
    return statistics.median(samples), count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mailctl-bench-") as tmp:
        configs = generate(Path(tmp) / "configs", args.orgs, 0.2)
        db = Path(tmp) / "store.db"
        env = {
            **os.environ,
            **secret_environ(args.orgs),
            "NO_COLOR": "1",
            "MAILCTL_CONFIGS": str(configs),
            "MAILCTL_STORE": str(db),
        }
        run(["apply", "--probe", "off", "--revision", "r1"], env)
        startup = statistics.median(run(["--version"], env)[0] for _ in range(args.runs))
        rows = [
            ("mailctl effective <Tab>", *complete("mailctl effective ", env, args.runs)),
            (
                "mailctl effective org/org-0001<Tab>",
                *complete("mailctl effective org/org-0001", env, args.runs),
            ),
            ("mailctl probe <Tab>", *complete("mailctl probe ", env, args.runs)),
        ]
    print(f"orgs={args.orgs} runs={args.runs} (median wall seconds, whole process)")
    print(f"{'mailctl --version (start-up)':40} {startup:7.3f}")
    for name, seconds, count in rows:
        print(f"{name:40} {seconds:7.3f}   {count} candidates")


if __name__ == "__main__":
    main()
