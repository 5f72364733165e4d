"""One daemon thread that runs reconciles, so the event loop (HTTP, signals) stays free.

A daemon thread, not an executor: on SIGTERM the loop waits a bounded time for the job in
flight (a SQLite transaction is atomic either way) and the process can always exit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_Job = tuple[Callable[[], Any], concurrent.futures.Future[Any]]


class Worker:
    def __init__(self, name: str = "mailctl-reconcile") -> None:
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)

    async def call(self, fn: Callable[[], T]) -> T:
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put((fn, fut))
        return await asyncio.wrap_future(fut)

    def close(self, wait_s: float | None = None) -> None:
        """No more jobs; with ``wait_s``, wait that long for the queued ones to finish."""
        self._queue.put(None)
        if wait_s is not None:
            self._thread.join(wait_s)
