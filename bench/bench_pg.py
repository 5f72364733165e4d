"""PostgreSQL store beside SQLite: first apply, no-op apply, host change, one-edit daemon
latency at N orgs.

    python bench/bench_pg.py [--orgs 10000 [--orgs 100000]] [--runs 3] [--edits 5]

Public tools only: ``bench/gen.py`` writes the folder (20 % custom, half with auth), every
figure is a whole ``mailctl`` process (``apply``) or the real ``mailctl daemon`` (edit
latency), against a SQLite file and against the PostgreSQL server of ``MAILCTL_BENCH_PG``
(default ``postgresql://postgres@127.0.0.1:5432/postgres``; the bench creates and drops its
own database, and gives every first apply a fresh schema).

- first apply: empty store -> N+1 scopes in one transaction (median of ``--runs``);
- no-op apply: the same folder again (nothing written);
- host change: the host's display name changes, cascading to every inheriting org;
- edit latency: one custom org's display name edited under a running daemon (``--probe
  off``, debounce 300 ms): from the write until the store shows it, minus the debounce
  (median of ``--edits``), and the daemon's own ``apply_ms`` of that run.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench._common import (
    daemon_argv,
    events,
    free_port,
    start_daemon,
    stop,
    timed,
    timed_edit,
    with_display_name,
)
from bench.gen import generate, org_name, secret_environ
from reconciler.store import open_store

ADMIN = os.environ.get("MAILCTL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DEBOUNCE_MS = 300
APPLIED = (0, 3)  # 3: applied, a scope held


@contextmanager
def pg_database() -> Iterator[str]:
    name = f"mailctl_bench_{os.getpid()}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_schema(db_url: str) -> str:
    schema = f"s_{secrets.token_hex(4)}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{db_url}?options={quote(f'-csearch_path={schema}', safe='')}"


def median(runs: int, once: Callable[[], float]) -> float:
    return statistics.median(once() for _ in range(runs))


def set_host_name(configs: Path, name: str) -> None:
    host = configs / "host.yaml"
    host.write_text(with_display_name(host.read_text(), name))


def applies(
    configs: Path, env: dict[str, str], new_store: Callable[[], str], runs: int
) -> tuple[dict[str, float], str]:
    base = ["apply", "--configs", str(configs), "--probe", "off", "--revision", "r1"]
    stores: list[str] = []

    def first() -> float:
        stores.append(new_store())
        return timed([*base, "--store", stores[-1]], env, ok=APPLIED)

    out = {"first apply": median(runs, first)}
    store = stores[-1]
    out["no-op apply"] = median(runs, lambda: timed([*base, "--store", store], env, ok=APPLIED))
    names = iter(range(10**6))

    def host_change() -> float:
        set_host_name(configs, f"Platform {next(names)}")
        return timed([*base, "--store", store], env, ok=APPLIED)

    out["host change"] = median(runs, host_change)
    return out, store


def edit_latency(
    configs: Path, env: dict[str, str], store: str, orgs: int, edits: int, root: Path
) -> dict[str, float]:
    custom = [
        i
        for i in range(orgs)
        if "mode: custom" in (configs / "orgs" / f"{org_name(i)}.yaml").read_text()
    ][:edits]
    port, log = free_port(), root / f"daemon-{secrets.token_hex(2)}.log"
    extra = ("--probe", "off", "--log-format", "json", "--revision", "r1")
    cmd = daemon_argv(configs, store, port, interval="1h", debounce_ms=DEBOUNCE_MS, extra=extra)
    walls, applies_ms = [], []
    proc = start_daemon(cmd, port, log, env)
    try:
        # /readyz already answers while a PostgreSQL daemon serves reads as a standby: the
        # edits are timed once it leads and its start-up reconcile has finished
        while not events(log, "reconcile.finished"):
            if proc.poll() is not None:
                raise SystemExit(f"daemon exited:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
        with open_store(store, create=False) as reader:
            for n, i in enumerate(custom):
                path = configs / "orgs" / f"{org_name(i)}.yaml"
                want = f"Edited {n} {secrets.token_hex(2)}"
                wall_ms, fin = timed_edit(reader, log, path, f"org/{org_name(i)}", want, 60)
                walls.append(wall_ms - DEBOUNCE_MS)
                if fin:
                    applies_ms.append(float(fin["apply_ms"]))
                time.sleep(0.3)
    finally:
        stop(proc, timeout=30)
    return {
        "edit latency ms": round(statistics.median(walls), 1),
        "edit apply_ms": round(statistics.median(applies_ms), 1) if applies_ms else float("nan"),
    }


def run(orgs: int, runs: int, edits: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="mailctl-bench-pg-") as tmp, pg_database() as db:
        root = Path(tmp)
        key = root / "fingerprint.key"
        env = {**os.environ, **secret_environ(orgs), "NO_COLOR": "1"}
        env["MAILCTL_FINGERPRINT_KEY_FILE"] = str(key)
        for backend in ("sqlite", "postgresql"):
            configs = generate(root / f"configs-{backend}", orgs, 0.2)
            counter = iter(range(10**6))

            def new_store(backend: str = backend, counter: Iterator[int] = counter) -> str:
                if backend == "sqlite":
                    return str(root / f"store-{next(counter)}.db")
                key.unlink(missing_ok=True)
                return fresh_schema(db)

            numbers, store = applies(configs, env, new_store, runs)
            numbers.update(edit_latency(configs, env, store, orgs, edits, root))
            results[backend] = numbers
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, action="append")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--edits", type=int, default=5)
    args = parser.parse_args()
    load = os.getloadavg()
    for orgs in args.orgs or [10_000]:
        started = time.perf_counter()
        results = run(orgs, args.runs, args.edits)
        print(json.dumps({"orgs": orgs, "runs": args.runs, "results": results}, indent=2))
        print(f"| what ({orgs:,} orgs) | SQLite | PostgreSQL |")
        print("|---|---|---|")
        for what in results["sqlite"]:
            unit = "" if "ms" in what else " s"
            sq, pg = results["sqlite"][what], results["postgresql"][what]
            print(f"| {what} | {sq:.2f}{unit} | {pg:.2f}{unit} |")
        print(f"(took {time.perf_counter() - started:.0f} s)")
    print(f"load average before: {load[0]:.1f}, after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
