"""The schema bundler keeps host/org schemas in step with defs.schema.json."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bundled_schemas_are_current() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "bundle_schemas.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout
