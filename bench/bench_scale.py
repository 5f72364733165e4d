"""Scale benchmark (issue 11): validate, plan and apply at N orgs — wall time, peak RSS,
store size — and ``mailctl validate`` against ``check-jsonschema`` on the same files.

    python bench/bench_scale.py --orgs 10000 [--runs 3] [--host-changes 5] [--json]

One generated folder (``bench/gen.py``: one host, N orgs, 20 % custom, so a host change
cascades to 80 % of the orgs). Every figure is one whole ``mailctl`` process, as users run
it: wall time from ``time.perf_counter``, CPU from ``os.wait4`` and the process's own
peak RSS from GNU time's ``%M`` (``ru_maxrss`` when GNU time is missing); medians of
``--runs`` where repeated. Measured in order:

- ``validate`` of the folder (and ``check-jsonschema`` on the N org files, when installed:
  beside this Python, or ``CHECK_JSONSCHEMA=/path/to/check-jsonschema``);
- the first ``apply --probe off`` on a fresh store;
- ``plan`` against that store (nothing to do);
- ``--host-changes`` host changes (``smtp.port`` moves), each ``apply``; the store's bytes
  (database + WAL) after each, so the growth per cascading host change;
- one-file ``validate`` (the pre-commit case) of one org file, and check-jsonschema on it.

Public tools only (subprocess, ``os.wait4``, ``os.stat``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from bench._common import change_host, store_bytes  # noqa: E402
from bench.gen import generate, org_name, secret_environ  # noqa: E402

MAILCTL = [sys.executable, "-m", "reconciler"]


def check_jsonschema() -> str | None:
    """check-jsonschema from ``$CHECK_JSONSCHEMA``, beside this Python, a venv under /tmp,
    or ``PATH``; ``None`` if it is not installed (its columns are then left empty)."""
    given = os.environ.get("CHECK_JSONSCHEMA")
    candidates = [given] if given else []
    candidates += [
        str(Path(sys.executable).with_name("check-jsonschema")),
        "/tmp/cjs-venv/bin/check-jsonschema",
        shutil.which("check-jsonschema") or "",
    ]
    return next((c for c in candidates if c and Path(c).exists()), None)


GNU_TIME = "/usr/bin/time"


def measure(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> dict[str, Any]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one process; its exit code, output.

    The peak comes from GNU time (``%M``) when it is installed: a child forked from this
    (large) bench process inherits its resident size until ``exec``, so the child's own
    ``ru_maxrss`` from ``os.wait4`` can be the parent's; time is forked small."""
    gnu = Path(GNU_TIME).exists()
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r") as stats:
        argv = [GNU_TIME, "-f", "%M", "-o", stats.name, *cmd] if gnu else cmd
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
        lines = [ln for ln in stats.read().splitlines() if ln.strip().isdigit()]
    rss_kib = int(lines[-1]) if gnu and lines else usage.ru_maxrss
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,  # time's child included (waited for)
        "rss_mib": rss_kib / 1024,
        "code": proc.returncode,
        "out": text,
    }


def _expect(result: dict[str, Any], codes: tuple[int, ...], what: str) -> dict[str, Any]:
    if result["code"] not in codes:
        raise SystemExit(f"{what} exited {result['code']}:\n{result['out'][-3000:]}")
    return result


def _median(samples: list[dict[str, Any]]) -> dict[str, float]:
    return {
        "wall_s": statistics.median(s["wall_s"] for s in samples),
        "cpu_s": statistics.median(s["cpu_s"] for s in samples),
        "rss_mib": statistics.median(s["rss_mib"] for s in samples),
    }


def run(orgs: int, runs: int, host_changes: int, cjs_runs: int) -> dict[str, Any]:
    env = {**os.environ, **secret_environ(orgs), "NO_COLOR": "1"}
    cjs = check_jsonschema()
    out: dict[str, Any] = {"orgs": orgs, "runs": runs, "check_jsonschema": cjs}
    with tempfile.TemporaryDirectory(prefix="mailctl-bench-scale-") as tmp:
        root = Path(tmp)
        configs = generate(root / "configs", orgs, 0.2)
        db = root / "store.db"
        common = ["--configs", str(configs)]
        validate = [*MAILCTL, "validate", str(configs)]
        measure(validate, env)  # warm-up: page cache, .pyc
        out["validate"] = _median(
            [_expect(measure(validate, env), (0,), "validate") for _ in range(runs)]
        )
        if cjs and cjs_runs > 0:
            org_files = sorted(str(p.relative_to(configs)) for p in configs.glob("orgs/*.yaml"))
            cmd = [cjs, "--schemafile", str(REPO / "schemas" / "org.schema.json"), *org_files]
            out["check_jsonschema_folder"] = _median(
                [_expect(measure(cmd, env, configs), (0,), "cjs") for _ in range(cjs_runs)]
            )
        apply = [*MAILCTL, "apply", *common, "--store", str(db), "--probe", "off"]
        out["first_apply"] = _expect(
            measure([*apply, "--revision", "r0", "--format", "json"], env), (0,), "apply"
        )
        out["first_apply"].pop("out")
        out["store_after_first_apply"] = store_bytes(db)
        plan = [*MAILCTL, "plan", *common, "--store", str(db)]
        out["plan"] = _median([_expect(measure(plan, env), (0,), "plan") for _ in range(runs)])
        changes, sizes = change_host(
            configs,
            db,
            2600,
            host_changes,
            lambda i: _expect(
                measure([*apply, "--revision", f"r{i + 1}"], env), (0,), "host change"
            ),
        )
        if changes:
            out["host_change_apply"] = _median(changes)
            out["host_change_apply"]["rss_max_mib"] = max(c["rss_mib"] for c in changes)
            growth = [b - a for a, b in itertools.pairwise(sizes)]
            out["store_growth_per_host_change"] = statistics.median(growth)
        out["host_changes"] = host_changes
        out["store_after_host_changes"] = sizes[-1]
        one = configs / "orgs" / f"{org_name(0)}.yaml"
        one_cmd = [*MAILCTL, "validate", str(one)]
        measure(one_cmd, env)
        out["one_file_validate"] = _median(
            [_expect(measure(one_cmd, env), (0,), "one file") for _ in range(max(runs, 5))]
        )
        if cjs:
            cmd = [cjs, "--schemafile", str(REPO / "schemas" / "org.schema.json"), str(one)]
            out["check_jsonschema_one_file"] = _median(
                [_expect(measure(cmd, env), (0,), "cjs one") for _ in range(max(runs, 5))]
            )
        shutil.rmtree(configs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cjs-runs", type=int, default=1)
    parser.add_argument("--host-changes", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    result = run(args.orgs, args.runs, args.host_changes, args.cjs_runs)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:32} {value}")


if __name__ == "__main__":
    main()
