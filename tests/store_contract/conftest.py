"""Fixtures of the store contract tests: a backend and stores opened on it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.store import StateStore, open_store
from tests.store_contract.backends import BACKENDS


@dataclass(frozen=True)
class StoreBackend:
    """One backend under test: ``target`` is what ``--store`` would take."""

    name: str
    target: str

    def open(self, *, create: bool = True, lock_timeout_s: float = 30.0) -> StateStore:
        """A new connection to the backend's store (several may be open at once)."""
        return open_store(self.target, create=create, lock_timeout_s=lock_timeout_s)


@pytest.fixture(params=sorted(BACKENDS))
def store_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreBackend]:
    name: str = request.param
    with BACKENDS[name](tmp_path) as target:
        yield StoreBackend(name, target)


@pytest.fixture
def store(store_backend: StoreBackend) -> Iterator[StateStore]:
    with store_backend.open() as st:
        yield st
