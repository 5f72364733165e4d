"""The store backends the contract tests run against.

``BACKENDS[name]`` is a context manager factory: given pytest's ``tmp_path``, it makes a
new, empty store location (a file path, or a fresh database's URL), yields what
``open_store`` takes, and cleans up after. A backend that cannot run here skips (or fails
under its ``MAILCTL_REQUIRE_*`` flag) through ``tests.realservers.unavailable``.

A new backend adds one entry here; every contract test then runs against it too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path


@contextmanager
def sqlite_target(tmp_path: Path) -> Iterator[str]:
    yield str(tmp_path / "contract.db")


@contextmanager
def postgresql_target(tmp_path: Path) -> Iterator[str]:
    """A fresh database on the real server (tests/fixtures_pg.py); the fingerprint key file
    that a PostgreSQL store requires lives in ``tmp_path``."""
    from tests.fixtures_pg import fresh_database

    key = tmp_path / "pg-contract.key"
    saved = os.environ.get("MAILCTL_FINGERPRINT_KEY_FILE")
    os.environ["MAILCTL_FINGERPRINT_KEY_FILE"] = str(key)
    try:
        with fresh_database() as url:
            yield url
    finally:
        if saved is None:
            os.environ.pop("MAILCTL_FINGERPRINT_KEY_FILE", None)
        else:
            os.environ["MAILCTL_FINGERPRINT_KEY_FILE"] = saved


BACKENDS: dict[str, Callable[[Path], AbstractContextManager[str]]] = {
    "sqlite": sqlite_target,
    "postgresql": postgresql_target,
}
