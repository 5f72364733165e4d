"""Open a store by path or URL: the backend registry.

``--store`` takes a file path (SQLite, the default) or a URL whose scheme names a backend
(``postgresql://user@host:5432/db``). Each backend is one package registered here by
scheme, as the dotted name of its opener, and imported only when a store of that kind is
opened (so ``mailctl validate`` never loads a database driver).

An opener is ``open(target: str, *, lock_timeout_s: float, create: bool, new_key: bool)
-> StateStore``; ``target`` is the path or the whole URL.
"""

from __future__ import annotations

import importlib
import os
import re
from typing import Protocol

from reconciler.errors import StoreError
from reconciler.store.protocol import StateStore

__all__ = ["BACKENDS", "Opener", "backend_for", "open_store", "register_backend"]


class Opener(Protocol):
    def __call__(
        self, target: str, *, lock_timeout_s: float, create: bool, new_key: bool
    ) -> StateStore: ...


# scheme -> "module:function". A path (no scheme) is SQLite.
BACKENDS: dict[str, str] = {
    "sqlite": "reconciler.store.sqlite:open_sqlite",
    "postgresql": "reconciler.store.postgres:open_postgres",
    "postgres": "reconciler.store.postgres:open_postgres",
}


_URL_PASSWORD = re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s]*):\S*@", re.IGNORECASE)


def mask_url(text: str) -> str:
    """``scheme://user:***@host/...``: a store URL safe to print (no password)."""
    return _URL_PASSWORD.sub(r"\1:***@", text)


def register_backend(scheme: str, opener: str) -> None:
    """Register (or replace) the opener of ``scheme://`` stores, as ``"module:function"``."""
    BACKENDS[scheme.lower()] = opener


def backend_for(target: str | os.PathLike[str]) -> str:
    """The scheme that selects the backend of ``target`` (``sqlite`` for a plain path)."""
    text = os.fspath(target)
    scheme, sep, _ = text.partition("://")
    if sep and scheme and scheme.replace("+", "").isalnum():
        return scheme.lower()
    return "sqlite"


def _load(scheme: str, target: str) -> Opener:
    spec = BACKENDS.get(scheme)
    if spec is None:
        raise StoreError(
            f"store {mask_url(target)}: unknown store kind {scheme!r}",
            hint="pass a file path (SQLite) or a postgresql:// URL to --store",
        )
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StoreError(
            f"store {mask_url(target)}: the {scheme} store backend is not available ({exc})",
            hint="install mailctl with the extra that brings its driver",
        ) from exc
    opener: Opener = getattr(module, attr)
    return opener


def open_store(
    target: str | os.PathLike[str],
    *,
    lock_timeout_s: float = 30.0,
    create: bool = True,
    new_key: bool = False,
) -> StateStore:
    """Open the store at ``target`` (path or URL), migrating it to the current schema.

    ``create=False`` refuses to make a new store; ``new_key`` replaces a lost fingerprint
    key (see the backend)."""
    scheme = backend_for(target)
    text = os.fspath(target)
    if scheme == "sqlite" and text.startswith("sqlite://"):
        text = text[len("sqlite://") :]
    opener = _load(scheme, text)
    return opener(text, lock_timeout_s=lock_timeout_s, create=create, new_key=new_key)
