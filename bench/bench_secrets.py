"""Benchmark: ``apply`` at N orgs where one org's secret is a FIFO and one is ``/dev/zero``.

    python bench/bench_secrets.py [--orgs 10000] [--runs 3]

Every org is custom with its own credential: even orgs read a file under
``<root>/orgs/<name>/smtp``, odd orgs their own ``ORG_NNNNN_SMTP_PASSWORD`` variable.
``org-fifo`` points at a FIFO nobody writes to and ``org-zero`` at ``/dev/zero`` (roots:
the temporary secrets folder and ``/dev``, ``--shared-secrets`` so a ``/dev`` path is
allowed at all). Before DESIGN §8 the FIFO hung ``apply`` forever and ``/dev/zero`` ate
memory; now both scopes are held ``SecretUnresolved`` and every other scope is applied.

Each figure is the wall time of a whole ``mailctl apply --probe off`` process on a fresh
store, median of ``--runs``; the target is < 5 s at 10,000 orgs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def org_name(i: int) -> str:
    return f"org-{i:05d}"


def env_name(name: str) -> str:
    return name.upper().replace("-", "_") + "_SMTP_PASSWORD"


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
        if i % 2 == 0:
            folder = secrets / "orgs" / name
            folder.mkdir(parents=True)
            (folder / "smtp").write_text(password(i) + "\n")
            ref = f"{{file: orgs/{name}/smtp}}"
        else:
            environ[env_name(name)] = password(i)
            ref = f"{{env: {env_name(name)}}}"
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orgs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mailctl-bench-") as tmp:
        configs, secrets, environ = write_secret_set(Path(tmp), args.orgs)
        env = {**os.environ, **environ, "NO_COLOR": "1"}
        db = Path(tmp) / "store.db"
        samples = []
        for _ in range(args.runs):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            cmd = [sys.executable, "-m", "reconciler", "apply", "--configs", str(configs)]
            cmd += ["--store", str(db), "--probe", "off", "--revision", "r1", "--format", "json"]
            cmd += secret_args(secrets)
            started = time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
            samples.append(time.perf_counter() - started)
            if proc.returncode != 3:
                raise SystemExit(f"apply exited {proc.returncode}: {proc.stderr}")
            payload = json.loads(proc.stdout)
            held = sorted((h["scope"], h["reason"]) for h in payload["held"])
            expected = [
                (f"org/{FIFO_ORG}", "SecretUnresolved"),
                (f"org/{ZERO_ORG}", "SecretUnresolved"),
            ]
            if held != expected or len(payload["written"]) != args.orgs + 1:
                raise SystemExit(
                    f"unexpected result: held={held} written={len(payload['written'])}"
                )
        median = statistics.median(samples)
        print(f"orgs={args.orgs} (+ one FIFO org, one /dev/zero org) runs={args.runs}")
        spread = f"min {min(samples):.3f}, max {max(samples):.3f}"
        print(f"apply --probe off   {median:.3f} s median ({spread})")
        print(f"held                {', '.join(s for s, _ in held)} (SecretUnresolved)")
        print(f"target < 5 s        {'met' if median < 5 else 'MISSED'}")


if __name__ == "__main__":
    main()
