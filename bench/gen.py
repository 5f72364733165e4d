"""Data generator: a configs folder with one host and N orgs (a share of them custom).

    python bench/gen.py OUT_DIR --orgs 10000 --custom 0.2 [--seed 1]

Custom orgs alternate between no-auth and auth (secret from the org's own, tenant-scoped env
var ``ORG_NNNNN_SMTP_PASSWORD``; ``secret_environ(N)`` gives them all), so the set exercises
every branch of resolution and planning. Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

HOST = """\
# yaml-language-server: $schema=../schemas/host.schema.json
apiVersion: mailctl/v1
kind: HostMailSettings
spec:
  mode: custom
  smtp:
    host: 127.0.0.1
    port: {port}
    tls: none
    timeoutMs: 10000
  from:
    address: notify@platform.example
    displayName: Platform Notifications
  probe:
    to: mail-probe@platform.example
"""

DEFAULT_ORG = """\
apiVersion: mailctl/v1
kind: OrgMailSettings
metadata:
  name: {name}
spec:
  mode: default
"""

CUSTOM_ORG = """\
apiVersion: mailctl/v1
kind: OrgMailSettings
metadata:
  name: {name}
spec:
  mode: custom
  smtp:
    host: smtp.{name}.example
    port: 587
    tls: starttls
    timeoutMs: 30000
{auth}  from:
    address: alerts@{name}.example
    displayName: {title} Alerts
  probe:
    to: probe@{name}.example
"""

AUTH = """\
    auth:
      username: mailer@{name}.example
      password:
        env: {env}
"""


def org_name(i: int) -> str:
    return f"org-{i:05d}"


def secret_env(name: str) -> str:
    """The variable an org may read its password from (docs/secrets.md: ``<ORG>_*``)."""
    return name.upper().replace("-", "_") + "_SMTP_PASSWORD"


def auth_orgs(orgs: int, custom: float = 0.2, seed: int = 1) -> list[int]:
    """The indexes of the orgs ``generate`` gives an ``auth`` block (same RNG sequence)."""
    rng = random.Random(seed)
    return [i for i in range(orgs) if rng.random() < custom and i % 2]


def secret_environ(
    orgs: int, value: str = "bench-password", custom: float = 0.2, seed: int = 1
) -> dict[str, str]:
    """Environment entries for the password of every generated org that has one (only
    those: at 100,000 orgs one variable per org exceeds the kernel's argument limit)."""
    return {secret_env(org_name(i)): f"{value}-{i}" for i in auth_orgs(orgs, custom, seed)}


def generate(out: Path, orgs: int, custom: float, seed: int = 1, port: int = 2525) -> Path:
    rng = random.Random(seed)
    if out.exists():
        shutil.rmtree(out)
    (out / "orgs").mkdir(parents=True)
    (out / "host.yaml").write_text(HOST.format(port=port))
    for i in range(orgs):
        name = org_name(i)
        if rng.random() < custom:
            auth = AUTH.format(name=name, env=secret_env(name)) if i % 2 else ""
            text = CUSTOM_ORG.format(name=name, title=name.title(), auth=auth)
        else:
            text = DEFAULT_ORG.format(name=name)
        (out / "orgs" / f"{name}.yaml").write_text(text)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--orgs", type=int, default=10_000)
    parser.add_argument("--custom", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, default=2525)
    args = parser.parse_args()
    generate(args.out, args.orgs, args.custom, args.seed, args.port)
    print(f"wrote {args.orgs} orgs + host to {args.out}")


if __name__ == "__main__":
    main()
