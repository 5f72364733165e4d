"""Targets: a host change cascading to N orgs, synced to the Orchestrator contract server.

    python bench/bench_targets.py --orgs 10000 [--concurrency 8]

One host (custom, with a password) and N orgs inheriting it (``mode: default``, each with
``metadata.targetIds.prod``), an ``OrchestratorTarget`` pointing at the contract server
(``tests/orchestrator_server.py``, a stand-in built from UiPath's public API docs, on
loopback in this process). Measured, each a whole ``mailctl`` process unless said:

1. first ``apply`` (every partition written);
2. ``apply`` after a host change (the CLI path: a drift read per partition, then a PUT of
   the changed key to the host and every inheriting org);
3. the daemon's edit path after another host change: ``sync_targets(drift=False)``
   in-process on the committed store (PUTs only, no reads);
4. ``apply`` with nothing changed (drift reads only, nothing written).

Wall time (``time.perf_counter``) and the server's request counts by method.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._common import timed  # noqa: E402
from tests.fixtures_targets import HOST_PASSWORD, host_yaml, target_yaml  # noqa: E402
from tests.orchestrator_server import CLIENT_SECRET, OrchestratorServer, serve  # noqa: E402

ORG = """apiVersion: mailctl/v1
kind: OrgMailSettings
metadata:
  name: {name}
  targetIds: {{prod: p-{name}}}
spec:
  mode: default
"""


def write_configs(root: Path, orgs: int, url: str, concurrency: int) -> Path:
    configs = root / "configs"
    (configs / "orgs").mkdir(parents=True)
    (configs / "targets").mkdir()
    (configs / "host.yaml").write_text(host_yaml())
    for i in range(orgs):
        name = f"org-{i:05d}"
        (configs / "orgs" / f"{name}.yaml").write_text(ORG.format(name=name))
    (configs / "targets" / "prod.yaml").write_text(target_yaml(url, concurrency=concurrency))
    return configs


def counts(server: OrchestratorServer) -> dict[str, int]:
    with server.lock:
        tally = Counter(r.method for r in server.requests)
        failed = sum(1 for r in server.requests if r.status >= 400)
    return {"POST token": tally["POST"], "GET": tally["GET"], "PUT": tally["PUT"], "errors": failed}


def sync_only(store_path: Path, configs: Path, env: dict[str, str]) -> float:
    """The daemon's edit path: commit (no sync), then time the sync alone, no drift reads."""
    os.environ.update(env)
    from reconciler.reconcile import apply_run
    from reconciler.resolve import load_platform_defaults
    from reconciler.secrets import SecretCache
    from reconciler.store import open_store
    from reconciler.targets.base import SyncContext
    from reconciler.targets.sync import sync_targets, target_ids_of
    from reconciler.validate import validate_paths

    run = validate_paths([configs])
    with open_store(store_path) as store:
        apply_run(
            store,
            run,
            platform=load_platform_defaults(None),
            revision="bench-3",
            policy="off",
            sync_now=False,
        )
        ctx = SyncContext(SecretCache(store.fingerprint_key()))
        t0 = time.perf_counter()
        report = sync_targets(store, run.targets, target_ids_of(run.manifests), ctx, drift=False)
        took = time.perf_counter() - t0
    assert not report.failed, report.to_dict()["targets"][0]["failed"][:3]
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    gen = serve(OrchestratorServer())
    server = next(gen)
    with tempfile.TemporaryDirectory(prefix="mailctl-bench-targets-") as tmp:
        root = Path(tmp)
        configs = write_configs(root, args.orgs, server.url, args.concurrency)
        store = root / "mailctl.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILCTL_")}
        env.update(
            PYTHONPATH=str(REPO),
            MAILCTL_STORE=str(store),
            MAILCTL_CONFIGS=str(configs),
            HOST_SMTP_PASSWORD=HOST_PASSWORD,
            ORCH_CLIENT_SECRET=CLIENT_SECRET,
        )
        apply = ("apply", "--probe", "off", "--revision")
        print(f"orgs={args.orgs} concurrency={args.concurrency} load={os.getloadavg()[0]:.1f}")
        took = timed([*apply, "bench-1"], env, cwd=root, timeout=3600)
        print(f"first apply             {took:7.2f} s  {counts(server)}")
        server.clear()
        (configs / "host.yaml").write_text(host_yaml(port=2587))
        took = timed([*apply, "bench-2"], env, cwd=root, timeout=3600)
        print(f"host change, apply      {took:7.2f} s  {counts(server)}")
        server.clear()
        (configs / "host.yaml").write_text(host_yaml(port=2588))
        took = sync_only(store, configs, env)
        print(f"host change, sync only  {took:7.2f} s  {counts(server)}  (daemon path)")
        server.clear()
        took = timed([*apply, "bench-3"], env, cwd=root, timeout=3600)
        print(f"no change, apply        {took:7.2f} s  {counts(server)}")
        port = {s.get("Email.Smtp.Port") for s in server.settings.values()}
        print(f"partitions held: {len(server.settings)}, ports: {sorted(port)}")
        print(f"load after: {os.getloadavg()[0]:.1f}")
    gen.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
