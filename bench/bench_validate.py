"""Validation benchmark: ``mailctl validate`` vs ``check-jsonschema`` on the same files.

    python bench/bench_validate.py                   # 10,000 orgs, 5 repetitions
    python bench/bench_validate.py --orgs 2000 --repeat 3

Both tools run as separate processes (start-up included, as users run them), side by side
in one run, alternating, on the same generated folder (``bench/gen.py``: one host and N
orgs, 20 % custom). check-jsonschema gets ``--schemafile schemas/org.schema.json`` and the N
org files; the bundled schema resolves offline. mailctl validates the whole folder: the
same JSON Schema checks plus the reader's safety checks, the semantic rules and the
set-wide rules (and the host file). Medians are reported. Public tools only.

Also measured: one-file validation (the pre-commit case),
``mailctl validate configs/orgs/acme.yaml``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from gen import generate  # noqa: E402


def tool(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        sys.exit(f"{name} not found (pip install -e '.[dev]')")
    return found


def timed(cmd: list[str], cwd: Path, expect: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0 or expect not in proc.stdout:
        sys.exit(
            f"{cmd[0]} failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--one-file-repeat", type=int, default=20)
    args = parser.parse_args()

    mailctl, check = tool("mailctl"), tool("check-jsonschema")
    env_note = f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs"
    with tempfile.TemporaryDirectory(prefix="mailctl-bench-") as tmp:
        folder = generate(Path(tmp) / "configs", args.orgs, 0.2)
        orgs = sorted(str(p.relative_to(folder)) for p in (folder / "orgs").glob("*.yaml"))
        ours_cmd = [mailctl, "validate", "."]
        theirs_cmd = [check, "--schemafile", str(REPO / "schemas" / "org.schema.json"), *orgs]
        # warm-up (page cache, .pyc) for both, not counted
        timed(ours_cmd, folder, "files valid")
        timed(theirs_cmd, folder, "ok")
        ours, theirs = [], []
        for _ in range(args.repeat):
            ours.append(timed(ours_cmd, folder, f"{args.orgs + 1} files valid"))
            theirs.append(timed(theirs_cmd, folder, "validation done"))

    one_cmd = [mailctl, "validate", "configs/orgs/acme.yaml"]
    timed(one_cmd, REPO, "1 file valid")
    one = [timed(one_cmd, REPO, "1 file valid") for _ in range(args.one_file_repeat)]

    m_ours, m_theirs, m_one = (statistics.median(x) for x in (ours, theirs, one))
    ratio = m_ours / m_theirs
    print(f"# validate benchmark ({env_note})")
    print(f"{args.orgs} org files + host, {args.repeat} repetitions, medians:")
    print(f"  mailctl validate (folder)          {m_ours:7.3f} s   runs {_fmt(ours)}")
    print(f"  check-jsonschema (org files)       {m_theirs:7.3f} s   runs {_fmt(theirs)}")
    print(f"  ratio mailctl / check-jsonschema   {ratio:7.3f}     target <= 0.200: ", end="")
    print("met" if ratio <= 0.2 else "MISSED")
    print(f"one file (pre-commit case), {args.one_file_repeat} runs, median:")
    print(f"  mailctl validate acme.yaml         {m_one * 1000:7.1f} ms  target < 250 ms: ", end="")
    print("met" if m_one < 0.25 else "MISSED")
    print(f"  min {min(one) * 1000:.1f} ms, max {max(one) * 1000:.1f} ms")


def _fmt(values: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
