"""The daemon's manifest cache: ``path -> (stat signature, FileCheck)``.

A batch of changed paths re-checks only files whose ``(mtime_ns, size, ino)`` moved, drops
removed ones, and reports the scopes they touched (old and new identities; for a removed or
unreadable file the scope it defined last). ``combine()`` then applies the set-wide rules to
all cached checks, which is cheap compared with reading and validating 10,000 files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.diagnostics import Diagnostic
from reconciler.model import HOST_SCOPE
from reconciler.reader import _escape_check, discover
from reconciler.validate import FileCheck, ValidationRun, check_file, combine

from .watch import is_ignored_name, is_manifest_name

Sig = tuple[int, int, int]


def signature(path: str) -> Sig | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


@dataclass(slots=True)
class Entry:
    sig: Sig | None
    check: FileCheck


@dataclass(slots=True)
class Delta:
    """What one refresh changed."""

    changed: list[str] = field(default_factory=list)  # display names re-checked
    removed: list[str] = field(default_factory=list)
    scopes: set[str] = field(default_factory=set)  # old and new identities touched
    checks: list[FileCheck] = field(default_factory=list)  # the new checks

    @property
    def empty(self) -> bool:
        return not self.changed and not self.removed

    @property
    def host(self) -> bool:
        return HOST_SCOPE in self.scopes


class ManifestCache:
    """Checked manifests below ``root``, keyed by the display name ``discover`` uses."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._abs_root = os.path.abspath(root)
        self.entries: dict[str, Entry] = {}
        self.last_scope: dict[str, str] = {}  # file -> scope it defined last (survives breaks)

    @property
    def _real_root(self) -> Path:
        """Resolved now, not once: the configs folder may be a symlink that is swapped."""
        return Path(self.root).resolve()

    def seed_scopes(self, file_to_scope: Mapping[str, str]) -> None:
        """Remember which file defined which scope (from the store, after a restart)."""
        for file, scope in file_to_scope.items():
            self.last_scope.setdefault(file, scope)

    def display(self, abs_path: str) -> str:
        rel = os.path.relpath(abs_path, self._abs_root)
        return str(Path(self.root, rel)) if rel != "." else str(self.root)

    def _absolute(self, display: str) -> str:
        return os.path.abspath(display)

    def full_scan(self) -> Delta:
        """Re-read every file (start and resync)."""
        delta = Delta()
        seen: set[str] = set()
        for path, name, pre in discover([self.root]):
            seen.add(name)
            sig = signature(str(path))
            self._store(name, check_file(path, name, pre), sig, delta, force=True)
        for gone in set(self.entries) - seen:
            self._drop(gone, delta)
        return delta

    def refresh(self, abs_paths: Iterable[str]) -> Delta:
        """Re-check the given paths (files or folders) whose signature changed."""
        delta = Delta()
        names: set[str] = set()
        for abs_path in abs_paths:
            name = self.display(abs_path)
            if os.path.isdir(abs_path) or not is_manifest_name(os.path.basename(abs_path)):
                names.update(self._subtree(abs_path, name))
            else:
                names.add(name)
        for name in sorted(names):
            sig = signature(self._absolute(name))
            old = self.entries.get(name)
            if sig is None:
                if old is not None:
                    self._drop(name, delta)
                continue
            if old is not None and old.sig == sig:
                continue
            pre = _escape_check(Path(name), self._real_root)
            self._store(name, check_file(Path(name), name, pre), sig, delta)
        return delta

    def _subtree(self, abs_path: str, name: str) -> set[str]:
        """Cached files below a folder event, plus manifests found there now."""
        prefix = name.rstrip(os.sep) + os.sep
        found = {n for n in self.entries if n.startswith(prefix) or n == name}
        if os.path.isdir(abs_path) and not self._hidden(abs_path):
            found.update(n for _, n, _ in discover([Path(name)]))
        return found

    def _hidden(self, abs_path: str) -> bool:
        rel = os.path.relpath(abs_path, self._abs_root)
        return rel != "." and any(is_ignored_name(p) for p in rel.split(os.sep))

    def _store(
        self, name: str, check: FileCheck, sig: Sig | None, delta: Delta, *, force: bool = False
    ) -> None:
        old = self.entries.get(name)
        if not force and old is not None and old.sig == sig and sig is not None:
            return
        before = old.check.scope if old is not None else None
        before = before or self.last_scope.get(name)
        if before:
            delta.scopes.add(before)
        if check.scope:
            delta.scopes.add(check.scope)
            self.last_scope[name] = check.scope
        self.entries[name] = Entry(sig, check)
        delta.changed.append(name)
        delta.checks.append(check)

    def _drop(self, name: str, delta: Delta) -> None:
        old = self.entries.pop(name, None)
        scope = (old.check.scope if old is not None else None) or self.last_scope.get(name)
        self.last_scope.pop(name, None)
        if scope:
            delta.scopes.add(scope)
        delta.removed.append(name)

    def combine(self) -> ValidationRun:
        return combine((e.check for e in self.entries.values()), require_host=True)


def set_error_key(
    errors: Iterable[Diagnostic], broken: Iterable[FileCheck] = ()
) -> tuple[tuple[str, str, str], ...]:
    """Comparable form of set-wide errors (did they appear, change or disappear?), counting
    broken files that name no scope: while one exists nothing is pruned, so when the last
    one is fixed every org held for it must be looked at again (a full run)."""
    keys = [(d.rule, d.file, d.message) for d in errors]
    keys += [("file.names-no-scope", c.file, "") for c in broken if c.scope is None]
    return tuple(sorted(keys))
