"""The store backends the contract tests run against.

``BACKENDS[name]`` is a context manager factory: given pytest's ``tmp_path``, it makes a
new, empty store location (a file path, or a fresh database's URL), yields what
``open_store`` takes, and cleans up after. A backend that cannot run here skips (or fails
under its ``MAILCTL_REQUIRE_*`` flag) through ``tests.realservers.unavailable``.

A new backend adds one entry here; every contract test then runs against it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path


@contextmanager
def sqlite_target(tmp_path: Path) -> Iterator[str]:
    yield str(tmp_path / "contract.db")


BACKENDS: dict[str, Callable[[Path], AbstractContextManager[str]]] = {
    "sqlite": sqlite_target,
}
