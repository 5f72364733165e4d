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
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import click
from click.shell_completion import CompletionItem

from reconciler.model import HOST_KIND, HOST_SCOPE, ORG_KIND, host_first, org_scope

_KIND = re.compile(rb"^kind:[ \t]*[\"']?([A-Za-z]+)[\"']?[ \t]*(?:#.*)?$", re.M)
_META_FLOW = re.compile(rb"^metadata:[ \t]*\{[^}\n]*?\bname:[ \t]*[\"']?([a-z0-9-]+)", re.M)
_META_BLOCK = re.compile(rb"^metadata:[ \t]*(?:#.*)?\n((?:[ \t]+\S.*\n|[ \t]*(?:#.*)?\n)+)", re.M)
_NAME = re.compile(rb"^([ \t]+)name:[ \t]*[\"']?([a-z0-9-]+)[\"']?[ \t]*(?:#.*)?$", re.M)


def _quick_scope(raw: bytes) -> str | None:
    """The scope of a block-style manifest read with two regular expressions (no YAML
    parse: completion runs on every Tab press); None when unsure."""
    kinds = _KIND.findall(raw)
    if len(kinds) != 1:
        return None
    if kinds[0] == HOST_KIND.encode():
        return HOST_SCOPE
    if kinds[0] != ORG_KIND.encode():
        return None
    flow = _META_FLOW.search(raw)
    if flow:
        return org_scope(flow.group(1).decode())
    block = _META_BLOCK.search(raw + b"\n")
    if not block:
        return None
    first = re.match(rb"[ \t]*", block.group(1))
    indent = first.group(0) if first else b""
    names = [m.group(2) for m in _NAME.finditer(block.group(1)) if m.group(1) == indent]
    return org_scope(names[0].decode()) if len(names) == 1 else None


def configs_scopes(configs: Path) -> set[str]:
    """Scopes defined by the manifests below ``configs``. Plain block-style files are read
    with a quick scan; anything unusual goes through the safe reader. Unreadable files
    are ignored."""
    from reconciler.reader import MAX_BYTES, discover

    found: set[str] = set()
    if not configs.is_dir():
        return found
    for path, name, problem in discover([configs]):
        if problem is not None:
            continue
        try:
            with path.open("rb") as fh:
                raw = fh.read(MAX_BYTES)
        except OSError:
            continue
        scope = _quick_scope(raw)
        if scope is None:
            scope = _read_scope(path, name)
        if scope is not None:
            found.add(scope)
    return found


def _read_scope(path: Path, name: str) -> str | None:
    from reconciler.reader import read_file
    from reconciler.rules import identity

    doc = read_file(path, name).document
    ident = identity(doc) if doc is not None else None
    return ident.scope if ident is not None else None


def store_scopes(store: Path) -> set[str]:
    """Scopes recorded in a SQLite store, read-only; nothing when there is no store."""
    if "://" in str(store) or not store.is_file():
        return set()
    import sqlite3  # here, not at the top: every command module imports this one

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
    return sorted(set(scopes), key=host_first)


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
