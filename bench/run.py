"""``make bench``: every harness, the scale ones at 10k, 50k and 100k orgs, and the table
of issue 11 written into ``bench/README.md`` (between the ``scale-table`` markers), side by
side with the numbers measured before and with check-jsonschema.

    python bench/run.py                         # sizes 10000 50000 100000, then the rest
    python bench/run.py --sizes 2000 --runs 1 --skip-other --no-write   # a quick look

Scale harnesses per size: ``bench_scale`` (validate / check-jsonschema / first apply /
plan / host changes / one-file validate: wall, peak RSS, store bytes) and ``bench_daemon``
(one-org edits applied by the real daemon). At 10k also ``bench_secrets`` (issue 8: apply
with a FIFO and a /dev/zero secret). Then, unless ``--skip-other``, the harnesses that do
not depend on the number of orgs, with their defaults. Public tools only; see README.md.
Takes about 15 minutes on the 2-core box; it is not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench import bench_daemon, bench_scale, bench_secrets  # noqa: E402

OTHER = (
    "bench_store.py",  # store bytes per host change, --history-keep (10k)
    "bench_reconcile.py",
    "bench_probe.py",
    "bench_observability.py",
    "bench_probe_hang.py",
    "bench_ui.py",
)
BEGIN, END = "<!-- scale-table:begin -->", "<!-- scale-table:end -->"

# Issue 11's table and issue 8's figure, measured on main before this work (10k, 50k, 100k).
BEFORE = {
    "growth": "+33 / +166 / +333 MB",
    "store": "190 MB / 955 MB / 1.9 GB",
    "rss_host": "162 / 660 / 1,287 MB",
    "daemon": "25 / 145 / — ms",
    "validate_ratio": "0.150 (10k: 1.38 s vs 9.15 s)",
    "one_file": "198 ms, 0.80 of check-jsonschema",
    "secrets": "6.93 s wall, 6.74 s CPU",
}


def _mb(n: float | None) -> str:
    return "—" if n is None else f"{n / 1e6:,.1f} MB"


def _mib(n: float | None) -> str:
    return "—" if n is None else f"{n:,.0f} MiB"


def _s(n: float | None) -> str:
    return "—" if n is None else f"{n:.2f} s"


def _cells(results: dict[int, dict[str, Any]], sizes: list[int], fn: Any) -> list[str]:
    out = []
    for n in sizes:
        try:
            out.append(fn(results[n]))
        except (KeyError, TypeError, ZeroDivisionError):
            out.append("—")
    return out


def _ratio(r: dict[str, Any], ours: str, theirs: str, key: str = "wall_s") -> str:
    a, b = r[ours][key], r[theirs][key]
    return f"{a / b:.3f} ({a:.2f} s vs {b:.2f} s)"


def table(results: dict[int, dict[str, Any]], sizes: list[int], meta: dict[str, Any]) -> str:
    head = ["work", *[f"{n // 1000}k orgs" for n in sizes], "before (10k / 50k / 100k)", "target"]
    rows: list[list[str]] = []

    def row(work: str, fn: Any, before: str, target: str) -> None:
        rows.append([work, *_cells(results, sizes, fn), before, target])

    row(
        "store added per host change (80 % cascade)",
        lambda r: _mb(r["scale"]["store_growth_per_host_change"]),
        BEFORE["growth"],
        "≤ 1 MB at 10k",
    )
    row(
        "store after first apply + 5 host changes",
        lambda r: (
            _mb(r["scale"]["store_after_host_changes"])
            + ("" if r["scale"].get("host_changes", 5) == 5 else f" ({r['scale']['host_changes']})")
        ),
        BEFORE["store"],
        "≤ 300 MB at 100k",
    )
    row(
        "peak RSS, host-change apply",
        lambda r: _mib(r["scale"]["host_change_apply"]["rss_max_mib"]),
        BEFORE["rss_host"],
        "≤ 300 MB at 100k",
    )

    def rss(r: dict[str, Any]) -> str:
        sc = r["scale"]
        v, p = sc["validate"]["rss_mib"], sc["plan"]["rss_mib"]
        h = sc["host_change_apply"]["rss_max_mib"]
        return f"{_mib(v)} / {_mib(p)} / {_mib(h)} ({p / v:.2f}× / {h / v:.2f}×)"

    row(
        "peak RSS: validate / plan / host-change apply (ratio to validate)",
        rss,
        "—",
        "plan, apply ≤ 2× validate",
    )
    row(
        "peak RSS, first apply with its JSON report",
        lambda r: _mib(r["scale"]["first_apply"]["rss_mib"]),
        "—",
        "",
    )
    row(
        "daemon: one-org edit, apply time (median / max)",
        lambda r: f"{r['daemon']['apply_ms']['median']} / {r['daemon']['apply_ms']['max']} ms",
        BEFORE["daemon"],
        "50k ≤ 1.5× 10k; < 30 ms at 100k",
    )
    row(
        "folder validate, mailctl / check-jsonschema: wall",
        lambda r: _ratio(r["scale"], "validate", "check_jsonschema_folder"),
        BEFORE["validate_ratio"],
        "≤ 0.12 at 10k",
    )
    row(
        "folder validate, mailctl / check-jsonschema: CPU",
        lambda r: _ratio(r["scale"], "validate", "check_jsonschema_folder", "cpu_s"),
        "—",
        "≤ 0.12 at 10k",
    )
    row(
        "one-file validate, mailctl / check-jsonschema: wall",
        lambda r: _ratio(r["scale"], "one_file_validate", "check_jsonschema_one_file"),
        BEFORE["one_file"],
        "≤ 0.5",
    )
    row(
        "one-file validate, mailctl / check-jsonschema: CPU",
        lambda r: _ratio(r["scale"], "one_file_validate", "check_jsonschema_one_file", "cpu_s"),
        "—",
        "≤ 0.5",
    )
    row(
        "first apply / plan / host-change apply: wall (CPU)",
        lambda r: " / ".join(
            f"{_s(r['scale'][k]['wall_s'])} ({_s(r['scale'][k]['cpu_s'])})"
            for k in ("first_apply", "plan", "host_change_apply")
        ),
        "—",
        "",
    )
    row(
        "apply, FIFO + /dev/zero secret among the orgs: wall (CPU); same set without them",
        lambda r: (
            f"{_s(r['secrets']['bad_wall_s'])} ({_s(r['secrets']['bad_cpu_s'])}); "
            f"{_s(r['secrets']['clean_wall_s'])} ({_s(r['secrets']['clean_cpu_s'])})"
        ),
        BEFORE["secrets"] + " (10k)",
        "< 5 s wall at 10k",
    )
    lines = [
        BEGIN,
        f"Measured {meta['started']} – {meta['finished']} UTC by `python bench/run.py` "
        f"(`make bench`), load average {meta['load_before']} before and "
        f"{meta['load_after']} after, {os.cpu_count()} CPUs; medians of {meta['runs']} runs "
        "where repeated; RSS is the process's own peak (GNU time `%M`); MB = 10^6 bytes.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
        END,
    ]
    return "\n".join(lines)


def write_readme(text: str, readme: Path) -> None:
    body = readme.read_text()
    if BEGIN in body and END in body:
        before, rest = body.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        body = before + text + after
    else:
        body = body.rstrip("\n") + "\n\n## Scale: 10k, 50k, 100k orgs (`make bench`)\n\n" + text
    readme.write_text(body + ("" if body.endswith("\n") else "\n"))


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--host-changes", type=int, default=5)
    parser.add_argument(
        "--cjs-max", type=int, default=100_000, help="no check-jsonschema folder run above"
    )
    parser.add_argument("--skip-other", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="print, do not edit README")
    parser.add_argument("--readme", type=Path, default=HERE / "README.md")
    parser.add_argument("--results", type=Path, help="also write the raw results (JSON)")
    args = parser.parse_args()
    meta = {"started": _now(), "load_before": _load(), "runs": args.runs}
    results: dict[int, dict[str, Any]] = {}
    for n in args.sizes:
        print(f"\n=== scale: {n:,} orgs", flush=True)
        res: dict[str, Any] = {}
        cjs_runs = 1 if n <= args.cjs_max else 0
        res["scale"] = bench_scale.run(n, args.runs, args.host_changes, cjs_runs)
        print(json.dumps(res["scale"]), flush=True)
        res["daemon"] = bench_daemon.run(n, 5, 300, False)
        print(json.dumps({k: v for k, v in res["daemon"].items() if k != "edits"}), flush=True)
        if n == 10_000:
            res["secrets"] = bench_secrets.run(n, args.runs)
            print(json.dumps(res["secrets"]), flush=True)
        results[n] = res
    meta.update(finished=_now(), load_after=_load())
    if args.results:
        args.results.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    text = table(results, args.sizes, meta)
    print("\n" + text)
    if not args.no_write:
        write_readme(text, args.readme)
    failed = 0
    if not args.skip_other:
        for name in OTHER:
            print(f"\n=== {name}", flush=True)
            failed += (
                subprocess.run([sys.executable, str(HERE / name)], check=False).returncode != 0
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
