"""Progress of long work: the callbacks the core calls, and a TTY renderer for the CLI.

The core (``validate_paths``, ``apply_run``, ``run_probes``) takes a :class:`Progress` and
calls it as work happens: a counted *phase* starts (``reading manifests``, ``applying``,
``probing``), *steps* are done, the store transaction has *committed*, one *probe* has
finished. It never prints. The shells decide what to do with the calls:

- :class:`TtyProgress` (the CLI, only when stderr is a terminal) redraws one status line on
  stderr — ``applying 9,456 scopes``, ``probing 37/1,121`` — and erases it at the end, so
  stdout (text, JSON, Markdown) is never touched;
- the structured-event stream of ``apply --log-format json`` (``reconciler.events``) logs
  ``scope.applied`` right after the commit and each ``probe.passed``/``probe.failed`` as it
  completes;
- :class:`Fanout` hands every call to several of them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol, TextIO


class Progress(Protocol):
    def phase(self, name: str, total: int | None = None) -> None:
        """A new piece of work starts; ``total`` steps when countable."""

    def step(self, n: int = 1) -> None:
        """``n`` steps of the current phase are done."""

    def committed(self, result: Any) -> None:
        """The store transaction committed (an ``ApplyResult``, before any probe)."""

    def probed(self, outcome: Mapping[str, Any]) -> None:
        """One probe finished (the outcome dict of ``mailctl probe --format json``)."""

    def synced(self, report: Any) -> None:
        """The targets were synced after the commit (a ``targets.sync.SyncReport``)."""

    def finish(self) -> None:
        """All work is done (erase whatever was drawn)."""


class NullProgress:
    """Does nothing: the default for callers that do not watch."""

    def phase(self, name: str, total: int | None = None) -> None:
        pass

    def step(self, n: int = 1) -> None:
        pass

    def committed(self, result: Any) -> None:
        pass

    def probed(self, outcome: Mapping[str, Any]) -> None:
        pass

    def synced(self, report: Any) -> None:
        pass

    def finish(self) -> None:
        pass


NULL = NullProgress()


class Fanout:
    """Every call goes to each of ``targets`` in order."""

    def __init__(self, *targets: Progress) -> None:
        self.targets = targets

    def phase(self, name: str, total: int | None = None) -> None:
        for t in self.targets:
            t.phase(name, total)

    def step(self, n: int = 1) -> None:
        for t in self.targets:
            t.step(n)

    def committed(self, result: Any) -> None:
        for t in self.targets:
            t.committed(result)

    def probed(self, outcome: Mapping[str, Any]) -> None:
        for t in self.targets:
            t.probed(outcome)

    def synced(self, report: Any) -> None:
        for t in self.targets:
            t.synced(report)

    def finish(self) -> None:
        for t in self.targets:
            t.finish()


def _count(n: int) -> str:
    return f"{n:,}"


def describe(name: str, done: int, total: int | None) -> str:
    """``probing 37/1,121`` for a counted phase; the name alone (``applying 9,456 scopes``)
    for one that is not."""
    return name if total is None else f"{name} {_count(done)}/{_count(total)}"


class TtyProgress(NullProgress):
    """One self-erasing status line on a terminal (stderr).

    Nothing is drawn during the first ``delay_s`` seconds, so quick commands print no
    progress at all; after that the line is redrawn at most every ``interval_s`` (a
    background ticker also redraws it, so a phase without steps still shows its elapsed
    time), and :meth:`finish` erases it. Commits, probes and syncs draw nothing (the
    no-ops of :class:`NullProgress`)."""

    def __init__(
        self,
        stream: TextIO,
        *,
        delay_s: float = 0.3,
        interval_s: float = 0.1,
        clock: Any = time.monotonic,
    ) -> None:
        self.stream = stream
        self.delay_s = delay_s
        self.interval_s = interval_s
        self.clock = clock
        self.started = clock()
        self.name = ""
        self.total: int | None = None
        self.done = 0
        self.phase_started = self.started
        self.drawn = False
        self._last = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def start(self) -> TtyProgress:
        """Start the background redraw (a daemon thread, stopped by :meth:`finish`)."""
        self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
        self._ticker.start()
        return self

    def _tick(self) -> None:
        while not self._stop.wait(self.interval_s * 2):
            self._draw(force=True)

    def phase(self, name: str, total: int | None = None) -> None:
        with self._lock:
            self.name, self.total, self.done = name, total, 0
            self.phase_started = self.clock()
        self._draw(force=True)

    def step(self, n: int = 1) -> None:
        with self._lock:
            self.done += n
        self._draw()

    def line(self) -> str:
        with self._lock:
            name, done, total = self.name, self.done, self.total
            elapsed = self.clock() - self.phase_started
        text = describe(name, done, total)
        return f"{text} ({elapsed:.0f}s)" if elapsed >= 1 else text

    def _draw(self, *, force: bool = False) -> None:
        now = self.clock()
        if not self.name or now - self.started < self.delay_s:
            return
        if not force and now - self._last < self.interval_s:
            return
        self._last = now
        text = self.line()
        width = _columns(self.stream) - 1
        with self._lock:
            if self._stop.is_set():
                return
            self.stream.write("\r\x1b[K" + text[:width])
            self.stream.flush()
            self.drawn = True

    def finish(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=1)
        with self._lock:
            if self.drawn:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
                self.drawn = False


def _columns(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


def for_terminal(stream: TextIO) -> TtyProgress | None:
    """A started :class:`TtyProgress` when ``stream`` is a terminal and ``TERM`` is not
    ``dumb``; ``None`` otherwise (pipes, files, CI logs get no progress)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    if not tty or os.environ.get("TERM") == "dumb":
        return None
    return TtyProgress(stream).start()
