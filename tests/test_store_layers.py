"""The store's layering: callers use the protocol and the factory, never a backend; the
SQLite backend has no import cycle; the factory picks the backend by URL, lazily."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.errors import StoreError
from reconciler.store import StateStore, open_store
from reconciler.store.factory import BACKENDS, backend_for, register_backend
from tests.store_contract.records import one_line

PKG = Path(__file__).resolve().parents[1] / "reconciler"


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


# The daemon's store wiring opens the leader lease of a shared PostgreSQL store (DESIGN
# §13), which has no backend-neutral protocol yet: the one allowed exception.
BACKEND_WIRING = {Path("daemon/stores.py")}


def test_no_caller_outside_the_store_names_a_backend() -> None:
    offenders = []
    for path in PKG.rglob("*.py"):
        if path.is_relative_to(PKG / "store") or path.relative_to(PKG) in BACKEND_WIRING:
            continue
        for name in imports_of(path):
            if name.startswith(("reconciler.store.sqlite", "reconciler.store.postgres")):
                offenders.append(f"{path.relative_to(PKG)}: {name}")
    assert offenders == []


def test_transactions_do_not_import_a_store() -> None:
    stores = tuple(f"reconciler.store.{b}.store" for b in ("sqlite", "postgres", "sqlbase"))
    for tx in ("sqlite/tx.py", "postgres/tx.py", "sqlbase/tx.py"):
        assert not any(n.startswith(stores) for n in imports_of(PKG / "store" / tx)), tx


def test_the_shared_sql_base_names_no_backend_and_no_driver() -> None:
    banned = ("reconciler.store.sqlite", "reconciler.store.postgres", "sqlite3", "psycopg")
    for path in sorted((PKG / "store/sqlbase").glob("*.py")):
        assert not any(n.startswith(banned) for n in imports_of(path)), path.name


@pytest.mark.parametrize(
    ("target", "scheme"),
    [
        ("mailctl.db", "sqlite"),
        ("/var/lib/mailctl/mailctl.db", "sqlite"),
        ("./odd://name.db", "sqlite"),
        ("sqlite:///tmp/x.db", "sqlite"),
        ("postgresql://mailctl@db:5432/mailctl", "postgresql"),
        ("POSTGRES://h/db", "postgres"),
    ],
)
def test_backend_is_chosen_by_url_scheme(target: str, scheme: str) -> None:
    assert backend_for(target) == scheme


def test_unknown_scheme_is_one_line_error() -> None:
    with pytest.raises(StoreError, match="unknown store kind 'mysql'") as err:
        open_store("mysql://h/db")
    one_line(err.value)


def test_sqlite_url_opens_the_file(tmp_path: Path) -> None:
    with open_store(f"sqlite://{tmp_path / 'u.db'}") as st:
        assert st.location == str(tmp_path / "u.db")
    assert (tmp_path / "u.db").is_file()


def fake_opener(target: str, *, lock_timeout_s: float, create: bool, new_key: bool) -> StateStore:
    """A registered opener gets the whole URL; this one keeps its path for SQLite."""
    path = target.partition("://")[2]
    return open_store(path, lock_timeout_s=lock_timeout_s, create=create, new_key=new_key)


def test_registered_backend_is_imported_only_when_opened(tmp_path: Path) -> None:
    saved = dict(BACKENDS)
    try:
        register_backend("fake", "tests.test_store_layers:fake_opener")
        with open_store(f"fake://{tmp_path / 'f.db'}") as st:
            assert st.location.endswith("f.db")
        register_backend("broken", "reconciler.store.no_such_backend:open")
        with pytest.raises(StoreError, match="backend is not available") as err:
            open_store("broken://x")
        one_line(err.value)
    finally:
        BACKENDS.clear()
        BACKENDS.update(saved)


def test_importing_the_store_loads_no_backend() -> None:
    code = (
        "import sys, reconciler.store;"
        "print(sorted(m for m in sys.modules if m.startswith('reconciler.store.')"
        " and ('sqlite' in m or 'postgres' in m)), 'sqlite3' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] False"
