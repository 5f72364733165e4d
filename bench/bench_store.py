"""Store size benchmark (issue 11, DESIGN §9): how much a cascading host change adds to the
store, the store after a first apply and five host changes, and what ``--history-keep``
does to a store that keeps changing.

    python bench/bench_store.py --orgs 10000 [--host-changes 5] [--keep 5 --keep-changes 15]

One generated folder (``bench/gen.py``: one host, N orgs, 20 % custom, so a host change
cascades to the 80 % that inherit). Every step is one whole ``mailctl apply --probe off``
process. Measured:

- the store's bytes (database + WAL, ``os.stat``) after the first apply and after each
  host change (``smtp.port`` moves); the growth per change is the median difference;
- where the bytes are (SQLite's ``dbstat`` virtual table: pages of the scope tables, of
  the history tables, free pages);
- ``--keep-changes`` more host changes applied with ``--history-keep K``: the number of
  entries kept and the file size, which stops growing once pruned pages are reused.

Public tools only (subprocess, sqlite3, os.stat).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from bench._common import (  # noqa: E402
    change_host,
    store_bytes,
    timed,
)
from bench.gen import generate, secret_environ  # noqa: E402

MB = 1_000_000
HISTORY_TABLES = ("history", "history_changes", "history_deltas", "history_scopes")


def breakdown(db: Path) -> dict[str, int]:
    """Bytes of pages per part of the store (tables with their indexes), from ``dbstat``."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT name, tbl_name FROM sqlite_schema").fetchall()
        owner = dict(rows)
        pages = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
        (free,) = conn.execute("PRAGMA freelist_count").fetchone()
        (entries,) = conn.execute("SELECT count(*) FROM history").fetchone()
    finally:
        conn.close()
    out = {"scopes": 0, "history": 0, "other": 0, "free": free * page_size, "entries": entries}
    for name, size in pages:
        table = owner.get(name, name)
        if table.startswith("sqlite_autoindex_"):
            table = table.removeprefix("sqlite_autoindex_").rsplit("_", 1)[0]
        part = "history" if table in HISTORY_TABLES else "scopes"
        if table in ("meta", "sqlite_schema", "sqlite_sequence", "held", "target_sync"):
            part = "other"
        out[part] += int(size)
    return out


def apply(configs: Path, db: Path, revision: str, env: dict[str, str], *extra: str) -> float:
    args = ["apply", "--configs", str(configs), "--store", str(db), "--probe", "off"]
    return timed([*args, "--revision", revision, *extra], env)


def run(orgs: int, host_changes: int, keep: int, keep_changes: int) -> dict[str, Any]:
    env = {**os.environ, **secret_environ(orgs), "NO_COLOR": "1"}
    out: dict[str, Any] = {"orgs": orgs, "host_changes": host_changes}
    with tempfile.TemporaryDirectory(prefix="mailctl-bench-store-") as tmp:
        root = Path(tmp)
        configs = generate(root / "configs", orgs, 0.2)
        db = root / "store.db"
        out["first_apply_s"] = apply(configs, db, "r0", env)
        out["after_first_apply"] = store_bytes(db)
        walls, sizes = change_host(
            configs, db, 2600, host_changes, lambda i: apply(configs, db, f"r{i + 1}", env)
        )
        out["host_change_s"] = statistics.median(walls) if walls else None
        growth = [b - a for a, b in itertools.pairwise(sizes)]
        out["growth_per_host_change"] = statistics.median(growth) if growth else None
        out["growth_each"] = growth
        out["after_host_changes"] = sizes[-1]
        out["parts"] = breakdown(db)
        if keep_changes:
            keep_args = ("--history-keep", str(keep))
            _, sizes = change_host(
                configs,
                db,
                3600,
                keep_changes,
                lambda i: apply(configs, db, f"k{i + 1}", env, *keep_args),
            )
            kept = sizes[1:]
            out["keep"] = keep
            out["keep_sizes"] = kept
            out["keep_parts"] = breakdown(db)
    return out


def _mb(n: float | None) -> str:
    return "-" if n is None else f"{n / MB:,.2f} MB"


def report(r: dict[str, Any]) -> str:
    p = r["parts"]
    lines = [
        f"orgs={r['orgs']:,} (20% custom; a host change cascades to the 80% that inherit)",
        f"first apply            {r['first_apply_s']:.1f} s, store {_mb(r['after_first_apply'])}",
        f"per host change        +{_mb(r['growth_per_host_change'])} (median; each:"
        f" {', '.join(_mb(g) for g in r['growth_each'])}), apply {r['host_change_s']:.1f} s",
        f"after first + {r['host_changes']} changes  {_mb(r['after_host_changes'])}"
        f"  (scope tables {_mb(p['scopes'])}, history {_mb(p['history'])},"
        f" free pages {_mb(p['free'])}, {p['entries']} entries)",
    ]
    if "keep" in r:
        k = r["keep_parts"]
        lines.append(
            f"--history-keep {r['keep']}: {len(r['keep_sizes'])} more changes, store"
            f" {' -> '.join(_mb(s) for s in r['keep_sizes'][:: max(1, len(r['keep_sizes']) // 5)])}"
            f" (history {_mb(k['history'])}, free {_mb(k['free'])}, {k['entries']} entries kept)"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=10_000)
    parser.add_argument("--host-changes", type=int, default=5)
    parser.add_argument("--keep", type=int, default=5, help="--history-keep of the last part")
    parser.add_argument("--keep-changes", type=int, default=0, help="host changes with --keep")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    result = run(args.orgs, args.host_changes, args.keep, args.keep_changes)
    print(json.dumps(result) if args.json else report(result))


if __name__ == "__main__":
    main()
