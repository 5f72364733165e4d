"""Real servers that may be missing on a user's machine: skip with the reason, or fail in CI.

``.ci/run`` installs every server and sets the ``MAILCTL_REQUIRE_*`` flags; there a missing
server is a failure, never a skip. On a developer's machine without, say, Postfix, the
interop tests skip and say why.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parent.parent


def unavailable(flag: str, reason: str) -> NoReturn:
    """Skip with ``reason``, or fail when ``flag`` (e.g. MAILCTL_REQUIRE_INTEROP) is 1."""
    if os.environ.get(flag) == "1":
        pytest.fail(f"{reason} (required: {flag}=1)", pytrace=False)
    pytest.skip(reason)


def require_program(flag: str, name: str, hint: str) -> str:
    """The absolute path of ``name`` on PATH (or in .tools/), else skip/fail with ``hint``."""
    found = shutil.which(name) or shutil.which(name, path=str(REPO / ".tools/node_modules/.bin"))
    if found is None:
        unavailable(flag, f"{name} not found: {hint}")
    return found
