"""Shell completion of scope names (``host``, ``org/<name>``) for ``effective``, ``probe``
and ``history``.

Candidates come from the configs folder (each manifest's kind and ``metadata.name``, read
with the hostile-input-safe reader, no validation) and from the SQLite store (opened
read-only: completion never creates, migrates or locks a store). Completion runs on every
Tab press, so it must be cheap and must never fail: any problem yields fewer candidates,
never an error or a traceback in the user's shell.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path

import click
from click.shell_completion import CompletionItem

from reconciler.model import HOST_SCOPE

MAX_FILES = 5000  # a folder larger than this completes from the store only


def configs_scopes(configs: Path) -> set[str]:
    """Scopes defined by the manifests below ``configs`` (unreadable files are ignored)."""
    from reconciler.reader import discover, read_file
    from reconciler.rules import identity

    found: set[str] = set()
    if not configs.is_dir():
        return found
    for n, (path, name, problem) in enumerate(discover([configs])):
        if n >= MAX_FILES:
            break
        if problem is not None:
            continue
        doc = read_file(path, name).document
        ident = identity(doc) if doc is not None else None
        if ident is not None:
            found.add(ident.scope)
    return found


def store_scopes(store: Path) -> set[str]:
    """Scopes recorded in a SQLite store, read-only; nothing when there is no store."""
    if "://" in str(store) or not store.is_file():
        return set()
    uri = f"{store.resolve().as_uri()}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=0.2)
        try:
            rows = conn.execute("SELECT scope FROM scopes").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return set()
    return {str(r[0]) for r in rows}


def _order(scopes: Iterable[str]) -> list[str]:
    return sorted(set(scopes), key=lambda s: (s != HOST_SCOPE, s))


def _param(ctx: click.Context, name: str, envvar: str, default: str) -> Path:
    value = ctx.params.get(name)
    if value is None:
        value = os.environ.get(envvar) or default
    return Path(str(value))


def scope_completer(
    *, configs: bool, store: bool
) -> Callable[[click.Context, click.Parameter, str], list[CompletionItem]]:
    """A click ``shell_complete`` callback offering scope names from the chosen sources."""

    def complete(
        ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        names: set[str] = set()
        try:
            if configs:
                names |= configs_scopes(_param(ctx, "configs", "MAILCTL_CONFIGS", "configs"))
            if store:
                names |= store_scopes(_param(ctx, "store", "MAILCTL_STORE", "mailctl.db"))
        except Exception:  # completion must never break the user's shell
            pass
        return [CompletionItem(s) for s in _order(names) if s.startswith(incomplete)]

    return complete
