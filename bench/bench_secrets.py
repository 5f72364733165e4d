"""Benchmark: ``apply`` at N orgs where one org's secret is a FIFO and one is ``/dev/zero``.

    python bench/bench_secrets.py [--orgs 10000] [--runs 3]

The set has the shape of ``bench/gen.py``: one org in five is custom with its own
credential (alternately a file under ``<root>/orgs/<name>/smtp`` and its own
``ORG_NNNNN_SMTP_PASSWORD`` variable), the others inherit the host.
``org-fifo`` points at a FIFO nobody writes to and ``org-zero`` at ``/dev/zero`` (roots:
the temporary secrets folder and ``/dev``, ``--shared-secrets`` so a ``/dev`` path is
allowed at all). Before DESIGN §8 the FIFO hung ``apply`` forever and ``/dev/zero`` ate
memory; now both scopes are held ``SecretUnresolved`` and every other scope is applied.

Each figure is the wall time (and the CPU time) of a whole ``mailctl apply --probe off``
process on a fresh store, median of ``--runs``, next to the same set without the two
unusable secrets as a baseline; the target is < 5 s at 10,000 orgs.
"""

from __future__ import annotations

import argparse
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gen import DEFAULT_ORG, org_name, secret_env

HOST = """\
apiVersion: mailctl/v1
kind: HostMailSettings
spec:
  mode: custom
  smtp:
    host: 127.0.0.1
    port: {port}
    tls: starttls
    timeoutMs: 10000
  from:
    address: notify@platform.example
  probe:
    to: mail-probe@platform.example
"""

ORG = """\
apiVersion: mailctl/v1
kind: OrgMailSettings
metadata:
  name: {name}
spec:
  mode: custom
  smtp:
    host: 127.0.0.1
    port: {port}
    tls: starttls
    timeoutMs: 10000
    auth:
      username: {name}
      password: {ref}
  from:
    address: alerts@{name}.example
"""

FIFO_ORG = "org-fifo"
ZERO_ORG = "org-zero"


def password(i: int) -> str:
    return f"pw-{i:05d}-{i * 7919 % 100003:x}"


def write_secret_set(root: Path, orgs: int, port: int = 2525) -> tuple[Path, Path, dict[str, str]]:
    """``root/configs`` (host + ``orgs`` orgs + the FIFO and /dev/zero orgs) and
    ``root/secrets``; returns (configs, secrets root, environment for the env secrets)."""
    configs, secrets = root / "configs", root / "secrets"
    (configs / "orgs").mkdir(parents=True)
    (configs / "host.yaml").write_text(HOST.format(port=port))
    environ: dict[str, str] = {}
    for i in range(orgs):
        name = org_name(i)
        if i % 5:
            (configs / "orgs" / f"{name}.yaml").write_text(DEFAULT_ORG.format(name=name))
            continue
        if i % 10 == 0:
            folder = secrets / "orgs" / name
            folder.mkdir(parents=True)
            (folder / "smtp").write_text(password(i) + "\n")
            ref = f"{{file: orgs/{name}/smtp}}"
        else:
            environ[secret_env(name)] = password(i)
            ref = f"{{env: {secret_env(name)}}}"
        (configs / "orgs" / f"{name}.yaml").write_text(ORG.format(name=name, port=port, ref=ref))
    fifo = secrets / "orgs" / FIFO_ORG / "smtp"
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    for name, ref in (
        (FIFO_ORG, f"{{file: orgs/{FIFO_ORG}/smtp}}"),
        (ZERO_ORG, "{file: /dev/zero}"),
    ):
        (configs / "orgs" / f"{name}.yaml").write_text(ORG.format(name=name, port=port, ref=ref))
    return configs, secrets, environ


def secret_args(secrets: Path) -> list[str]:
    return ["--secrets-dir", str(secrets), "--secrets-dir", "/dev", "--shared-secrets"]


def apply_once(
    configs: Path, secrets: Path, db: Path, env: dict[str, str]
) -> tuple[float, float, dict[str, Any]]:
    """(wall s, CPU s of the process, JSON result) of one ``apply`` on a fresh store."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "reconciler", "apply", "--configs", str(configs)]
    cmd += ["--store", str(db), "--probe", "off", "--revision", "r1", "--format", "json"]
    cmd += secret_args(secrets)
    before = os.times()
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    if proc.returncode not in (0, 3):
        raise SystemExit(f"apply exited {proc.returncode}: {proc.stderr}")
    return wall, cpu, json.loads(proc.stdout)


def run(orgs: int, runs: int) -> dict[str, Any]:
    """Median wall and CPU seconds of ``apply`` with and without the two unusable secrets."""
    with tempfile.TemporaryDirectory(prefix="mailctl-bench-") as tmp:
        root = Path(tmp)
        configs, secrets, environ = write_secret_set(root, orgs)
        env = {**os.environ, **environ, "NO_COLOR": "1"}
        # The baseline: the same set without the two unusable secrets.
        clean = root / "clean"
        shutil.copytree(configs, clean)
        for name in (FIFO_ORG, ZERO_ORG):
            (clean / "orgs" / f"{name}.yaml").unlink()
        bad: list[tuple[float, float]] = []
        base: list[tuple[float, float]] = []
        expected = [
            (f"org/{FIFO_ORG}", "SecretUnresolved"),
            (f"org/{ZERO_ORG}", "SecretUnresolved"),
        ]
        for _ in range(runs):
            wall, cpu, payload = apply_once(configs, secrets, root / "bad.db", env)
            held = sorted((h["scope"], h["reason"]) for h in payload["held"])
            if held != expected or len(payload["written"]) != orgs + 1:
                raise SystemExit(f"unexpected: held={held} written={len(payload['written'])}")
            bad.append((wall, cpu))
            wall, cpu, payload = apply_once(clean, secrets, root / "clean.db", env)
            if payload["held"] or len(payload["written"]) != orgs + 1:
                raise SystemExit("the baseline set did not apply cleanly")
            base.append((wall, cpu))
    return {
        "orgs": orgs,
        "runs": runs,
        "bad_wall_s": statistics.median(w for w, _ in bad),
        "bad_cpu_s": statistics.median(c for _, c in bad),
        "clean_wall_s": statistics.median(w for w, _ in base),
        "clean_cpu_s": statistics.median(c for _, c in base),
        "held": [s for s, _ in expected],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    r = run(args.orgs, args.runs)
    print(f"orgs={args.orgs} (1 in 5 custom with its own file or env secret)")
    print(
        f"{'apply, + FIFO org + /dev/zero org':<34} wall {r['bad_wall_s']:6.2f} s   "
        f"cpu {r['bad_cpu_s']:6.2f} s   (median of {args.runs})"
    )
    print(
        f"{'apply, same set without those two':<34} wall {r['clean_wall_s']:6.2f} s   "
        f"cpu {r['clean_cpu_s']:6.2f} s   (median of {args.runs})"
    )
    print(f"held: {', '.join(r['held'])} (SecretUnresolved); every other scope written")
    print(f"target < 5 s wall: {'met' if r['bad_wall_s'] < 5 else 'MISSED'}")


if __name__ == "__main__":
    main()
