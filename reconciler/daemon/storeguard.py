"""The daemon's watch over its store: the file it opened, and the lock it holds.

Every ``CHECK_S`` the store's path and the lock file's path are compared with the files the
daemon opened (device and inode). A store deleted or replaced under the daemon (or its lock
file, which would let a second daemon in) is *lost*: the daemon logs ``store.lost``, answers
``/healthz`` with 503, and exits non-zero. Writes are refused by the store itself from the
moment the path changes (:meth:`Store.lost`), so nothing is written to an unlinked inode.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

CHECK_S = 1.0

Check = Callable[[], str | None]  # ``None`` while fine, else why it is lost


def first_loss(checks: Sequence[Check]) -> str | None:
    for check in checks:
        why = check()
        if why is not None:
            return why
    return None


async def guard_store(
    checks: Sequence[Check],
    on_lost: Callable[[str], None],
    stop: asyncio.Event,
    *,
    every_s: float = CHECK_S,
) -> None:
    """Run ``checks`` every ``every_s`` until ``stop``; call ``on_lost`` once, then return."""
    while not stop.is_set():
        why = await asyncio.to_thread(first_loss, checks)
        if why is not None:
            on_lost(why)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)
