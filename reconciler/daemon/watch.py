"""watchfiles on the configs folder: filtered events in, manifest paths out.

Every real folder below the configs folder is watched on its own, and symlinks are never
followed (see :func:`watch_folder`).

Editor temp and swap files (vim ``.swp``/``.swx``/``4913``/``~``, emacs ``.#x``/``#x#``,
``*.tmp``), dotfiles and dot-folders, and anything that is not ``*.yaml``/``*.yml`` are
ignored. Paths without a suffix pass too: they may be folders (a removed or renamed
``orgs/``), which the daemon rescans.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from watchfiles import Change, awatch

from reconciler.logs import get_logger
from reconciler.reader import YAML_SUFFIXES
from reconciler.store.files import FileIdentity

_TEMP_SUFFIXES = (".swp", ".swx", ".swo", ".tmp", ".temp", ".bak", ".orig", "~")
_TEMP_NAMES = frozenset({"4913"})

log = get_logger("mailctl.daemon")


def is_ignored_name(name: str) -> bool:
    """Editor temp/swap files and dotfiles."""
    return (
        not name
        or name.startswith((".", "#"))
        or name.endswith(_TEMP_SUFFIXES)
        or name in _TEMP_NAMES
    )


def is_manifest_name(name: str) -> bool:
    return not is_ignored_name(name) and name.endswith(YAML_SUFFIXES)


class ManifestFilter:
    """watchfiles filter: manifest files, and suffix-less names that may be folders."""

    def __init__(self, root: Path) -> None:
        self.root = os.path.abspath(root)

    def __call__(self, change: Change, path: str) -> bool:
        rel = os.path.relpath(os.path.abspath(path), self.root)
        if rel == "." or rel.startswith(".."):
            return rel == "."
        parts = rel.split(os.sep)
        if any(is_ignored_name(p) for p in parts):
            return False
        name = parts[-1]
        if name.endswith(YAML_SUFFIXES):
            return True
        return "." not in name  # maybe a folder; the daemon rescans it


def watched_dirs(root: Path) -> list[str]:
    """The real folders below ``root`` (itself first), never through a symlink.

    A symlink inside the configs folder (to ``/``, out of the folder, or a loop) is not
    followed: the reader rejects files that leave the folder anyway, and following ``/``
    would make the watcher walk the whole machine."""
    out: list[str] = []
    top = os.path.abspath(root)
    for dirpath, dirnames, _ in os.walk(top, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not is_ignored_name(d))
        out.append(dirpath)
    return out


class _TreeFilter(ManifestFilter):
    """Manifests, plus any event on a folder: a folder added or removed re-arms the watch."""

    def __init__(self, root: Path, dirs: set[str]) -> None:
        super().__init__(root)
        self.dirs = dirs
        self.tree_changed = False

    def __call__(self, change: Change, path: str) -> bool:
        full = os.path.abspath(path)
        if full in self.dirs or (os.path.isdir(full) and not os.path.islink(full)):
            rel = os.path.relpath(full, self.root)
            if rel != "." and any(is_ignored_name(p) for p in rel.split(os.sep)):
                return False
            self.tree_changed = True  # the watch is re-armed on the new tree
            return True
        return super().__call__(change, path)


async def watch_folder(
    root: Path,
    on_paths: Callable[[set[str]], None],
    stop: asyncio.Event,
    *,
    step_ms: int = 20,
    retry_s: float = 2.0,
    check_s: float = 1.0,
) -> None:
    """Call ``on_paths`` with absolute paths of every filtered batch until ``stop`` is set.

    Each real folder below ``root`` is watched on its own (no symlink is followed). The
    watch is re-armed, and the whole folder rescanned (``on_paths({root})``), when a folder
    is added or removed, and when ``root`` itself is no longer the folder being watched
    (removed and re-created, or a symlink swapped to another folder): its identity is
    checked every ``check_s``. A missing folder is waited for, logged, never fatal."""
    top = os.path.abspath(root)
    armed_once = False
    while not stop.is_set():
        identity = FileIdentity.of(Path(top))
        dirs = watched_dirs(root) if identity is not None else []
        if not dirs:
            log.warning("watch.missing", path=str(root), retry_s=retry_s)
            on_paths({top})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=retry_s)
            continue
        if armed_once:
            log.info("watch.rearmed", path=str(root), folders=len(dirs))
            on_paths({top})  # what changed while nothing watched: rescan everything
        armed_once = True
        filt = _TreeFilter(root, set(dirs))
        failed = False
        try:
            async for changes in awatch(
                *dirs,
                watch_filter=filt,
                stop_event=stop,
                step=step_ms,
                debounce=1600,
                rust_timeout=max(int(check_s * 1000), 1),
                yield_on_timeout=True,
                recursive=False,
                raise_interrupt=False,
            ):
                paths = {os.path.abspath(p) for _, p in changes}
                if paths:
                    on_paths(paths)
                if filt.tree_changed or FileIdentity.of(Path(top)) != identity:
                    break
        except (FileNotFoundError, OSError, RuntimeError) as exc:
            log.warning("watch.failed", error=f"{type(exc).__name__}: {exc}", path=str(root))
            failed = True
        if stop.is_set():
            return
        if failed:
            on_paths({top})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=retry_s)


def written_within(paths: Iterable[str], window_s: float) -> bool:
    """Some manifest among ``paths`` was modified less than ``window_s`` ago: a slow writer
    may still be writing it (the debounce re-stats once before reading)."""
    window_ns, wall = int(window_s * 1e9), time.time_ns()
    for path in paths:
        if not is_manifest_name(os.path.basename(path)):
            continue
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            continue
        if wall - mtime < window_ns:
            return True
    return False
