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

Start-up, side by side (``--startup-base DIR``): the one-file validate of this checkout
against an older checkout of the package (``git worktree add DIR REV``), each run as
``python -m reconciler validate configs/orgs/acme.yaml`` in its checkout (``python -m``
puts the working directory first on ``sys.path``) with ``PYTHONPATH`` set to it,
alternating A B A B; wall time and CPU time (user + sys of the child, which a busy machine
disturbs less), medians. ``--check-jsonschema PATH`` adds ``check-jsonschema --schemafile
schemas/org.schema.json configs/orgs/acme.yaml`` (install it in a separate venv).
``--startup-only`` skips the 10,000-file folder part.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
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


def timed_cpu(cmd: list[str], cwd: Path, env: dict[str, str] | None) -> tuple[float, float]:
    """(wall, user + sys CPU) seconds of one run of ``cmd`` as a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def startup(base: Path, check: str | None, runs: int) -> None:
    """One-file validate: this checkout vs ``base`` (and check-jsonschema), alternating."""
    acme = "configs/orgs/acme.yaml"
    py = [sys.executable, "-m", "reconciler", "validate", acme]
    # ``python -m`` puts the working directory first on sys.path: each runs in its checkout
    base = base.resolve()
    cmds: dict[str, tuple[list[str], Path, dict[str, str] | None]] = {
        "before": (py, base, {**os.environ, "PYTHONPATH": str(base)}),
        "after": (py, REPO, {**os.environ, "PYTHONPATH": str(REPO)}),
    }
    if check:
        schema = str(REPO / "schemas" / "org.schema.json")
        cmds["check-jsonschema"] = ([check, "--schemafile", schema, acme], REPO, None)
    for cmd, cwd, env in cmds.values():  # warm-up: .pyc files, page cache
        timed_cpu(cmd, cwd, env)
    wall: dict[str, list[float]] = {name: [] for name in cmds}
    cpu: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(runs):
        for name, (cmd, cwd, env) in cmds.items():
            w, c = timed_cpu(cmd, cwd, env)
            wall[name].append(w)
            cpu[name].append(c)
    load = os.getloadavg()[0]
    print(f"# one-file validate start-up, {runs} runs each, alternating; load {load:.2f}")
    print(f"  before = PYTHONPATH={base}; after = PYTHONPATH={REPO}")
    print(f"  {'':18} {'wall median':>12} {'cpu median':>12}   wall min..max")
    for name in cmds:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        span = f"{min(wall[name]) * 1000:.0f}..{max(wall[name]) * 1000:.0f} ms"
        print(f"  {name:18} {w * 1000:9.1f} ms {c * 1000:9.1f} ms   {span}")
    for what, data in (("wall", wall), ("cpu", cpu)):
        before, after = statistics.median(data["before"]), statistics.median(data["after"])
        print(f"  {what}: after is {100 * (1 - after / before):.1f} % faster than before")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--one-file-repeat", type=int, default=20)
    parser.add_argument("--startup-base", type=Path, help="older checkout to compare with")
    parser.add_argument("--check-jsonschema", help="check-jsonschema executable (startup)")
    parser.add_argument("--startup-only", action="store_true")
    args = parser.parse_args()
    if args.startup_base is not None:
        startup(args.startup_base, args.check_jsonschema, args.one_file_repeat)
    if args.startup_only:
        return

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
