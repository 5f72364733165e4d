"""The daemon's manifest cache: ``path -> (stat signature, FileCheck)``.

A batch of changed paths re-checks only files whose ``(mtime_ns, size, ino)`` moved, drops
removed ones, and reports the scopes they touched (old and new identities; for a removed or
unreadable file the scope it defined last). The cache keeps its indexes (broken files, files
with diagnostics, the usable manifest per scope, the set-wide errors) up to date file by
file, so ``combine()`` after a one-file edit costs that file, not a pass over 100,000
checks; the set-wide rules run again only when some file's identity changed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.diagnostics import CheckResult, Diagnostic
from reconciler.model import HOST_SCOPE, ORG_PREFIX, Manifest
from reconciler.reader import _escape_check, discover, discover_names
from reconciler.rules import set_diagnostics
from reconciler.validate import FileCheck, ValidationRun, check_file

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
        # Indexes over ``entries``, kept up to date by _store/_drop (see combine()).
        self._checks: dict[str, FileCheck] = {}  # same keys and order as entries
        self._broken: dict[str, FileCheck] = {}
        self._with_diags: dict[str, FileCheck] = {}
        self._scope_files: dict[str, dict[str, None]] = {}  # scope -> files naming it
        self._usable: dict[str, Manifest] = {}  # scope -> its valid manifest
        self._target_ids: dict[str, dict[str, str]] = {}  # org -> metadata.targetIds
        self._targets: dict[str, FileCheck] = {}  # valid target manifests, by file
        self._touched: set[str] = set()  # scopes whose usable manifest must be looked up
        self._set_errors: list[Diagnostic] = []
        self._idents_changed = True
        # combine()'s lists of every file and check, in ``_checks`` order: an edit replaces
        # its check in place; an added or removed file has them built again.
        self._names: list[str] = []
        self._list: list[FileCheck] = []
        self._pos: dict[str, int] = {}
        self._lists_stale = True

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
            found.update(discover_names(Path(name)))
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
        if old is not None:
            self._unindex(name, old.check, check)
        self.entries[name] = Entry(sig, check)
        self._index(name, check, old.check if old is not None else None)
        delta.changed.append(name)
        delta.checks.append(check)

    def _drop(self, name: str, delta: Delta) -> None:
        old = self.entries.pop(name, None)
        if old is not None:
            self._unindex(name, old.check, None)
            del self._checks[name]
            self._lists_stale = True
        scope = (old.check.scope if old is not None else None) or self.last_scope.get(name)
        self.last_scope.pop(name, None)
        if scope:
            delta.scopes.add(scope)
        delta.removed.append(name)

    # ------------------------------------------------------------------ indexes

    def _unindex(self, name: str, old: FileCheck, new: FileCheck | None) -> None:
        self._broken.pop(name, None)
        self._targets.pop(name, None)
        self._with_diags.pop(name, None)
        if new is None or new.ident != old.ident:
            self._idents_changed = True
        scope = old.scope
        if scope is not None:
            files = self._scope_files.get(scope)
            if files is not None:
                files.pop(name, None)
                if not files:
                    del self._scope_files[scope]
            self._touched.add(scope)

    def _index(self, name: str, check: FileCheck, old: FileCheck | None) -> None:
        self._checks[name] = check
        at = self._pos.get(name)
        if self._lists_stale or at is None:
            self._lists_stale = True
        else:
            self._list[at] = check
        if old is None:
            self._idents_changed = True
        if not check.ok:
            self._broken[name] = check
        if check.diagnostics:
            self._with_diags[name] = check
        if check.ok and check.target is not None:
            self._targets[name] = check
        scope = check.scope
        if scope is not None:
            self._scope_files.setdefault(scope, {})[name] = None
            self._touched.add(scope)

    def _settle(self) -> None:
        for scope in self._touched:
            usable = None
            for name in self._scope_files.get(scope, ()):
                check = self._checks[name]
                if check.ok and check.manifest is not None:
                    usable = check.manifest  # the last one, as {m.scope: m} would keep
            if usable is None:
                self._usable.pop(scope, None)
                self._target_ids.pop(scope, None)
            else:
                self._usable[scope] = usable
                if scope.startswith(ORG_PREFIX):
                    self._target_ids[scope] = dict(usable.target_ids)
        self._touched.clear()
        if self._idents_changed:
            idents = [c.ident for c in self._checks.values() if c.ident is not None]
            self._set_errors = set_diagnostics(idents, require_host=True)
            self._idents_changed = False

    def combine(self) -> ValidationRun:
        """The set of every cached check, as ``validate.combine`` would build it; after a
        one-file edit its cost does not grow with the number of files. Its lists and
        mappings are the cache's own: valid until the next refresh, not to be kept."""
        self._settle()
        if self._lists_stale:
            self._names = list(self._checks)
            self._list = list(self._checks.values())
            self._pos = {name: i for i, name in enumerate(self._names)}
            self._lists_stale = False
        diagnostics = [d for c in self._with_diags.values() for d in c.diagnostics]
        diagnostics.extend(self._set_errors)
        return ValidationRun(
            CheckResult(diagnostics, self._names),
            self._list,
            list(self._set_errors),
            broken_checks=list(self._broken.values()),
            scope_manifests=self._usable,
            scope_index=self._scope_files,
            target_list=[
                t for n in sorted(self._targets) if (t := self._targets[n].target) is not None
            ],
            target_ids=self._target_ids,
        )


def set_error_key(
    errors: Iterable[Diagnostic], broken: Iterable[FileCheck] = ()
) -> tuple[tuple[str, str, str], ...]:
    """Comparable form of set-wide errors (did they appear, change or disappear?), counting
    broken files that name no scope: while one exists nothing is pruned, so when the last
    one is fixed every org held for it must be looked at again (a full run)."""
    keys = [(d.rule, d.file, d.message) for d in errors]
    keys += [("file.names-no-scope", c.file, "") for c in broken if c.scope is None]
    return tuple(sorted(keys))
