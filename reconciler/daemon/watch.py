"""watchfiles on the configs folder: filtered events in, manifest paths out.

Editor temp and swap files (vim ``.swp``/``.swx``/``4913``/``~``, emacs ``.#x``/``#x#``,
``*.tmp``), dotfiles and dot-folders, and anything that is not ``*.yaml``/``*.yml`` are
ignored. Paths without a suffix pass too: they may be folders (a removed or renamed
``orgs/``), which the daemon rescans.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from watchfiles import Change, awatch

from reconciler.logs import get_logger

YAML_SUFFIXES = (".yaml", ".yml")
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


async def watch_folder(
    root: Path,
    on_paths: Callable[[set[str]], None],
    stop: asyncio.Event,
    *,
    step_ms: int = 20,
    retry_s: float = 2.0,
) -> None:
    """Call ``on_paths`` with absolute paths of every filtered batch until ``stop`` is set.

    If the folder disappears the watcher restarts once it is back (logged, not fatal)."""
    filt = ManifestFilter(root)
    while not stop.is_set():
        try:
            async for changes in awatch(
                root,
                watch_filter=filt,
                stop_event=stop,
                step=step_ms,
                debounce=1600,
                recursive=True,
                raise_interrupt=False,
            ):
                paths = {os.path.abspath(p) for _, p in changes}
                if paths:
                    on_paths(paths)
        except (FileNotFoundError, OSError, RuntimeError) as exc:
            log.warning("watch.failed", error=f"{type(exc).__name__}: {exc}", path=str(root))
        if stop.is_set():
            return
        # The watcher ended (folder removed?): tell the loop to rescan, then retry.
        on_paths({os.path.abspath(root)})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=retry_s)
