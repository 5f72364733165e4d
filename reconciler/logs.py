"""structlog configuration shared by the daemon and ``apply``.

JSON lines when the stream is not a TTY (or with ``--log-format json``), the console
renderer on a TTY. Every event passes through :class:`Redactor`, which replaces any known
secret value anywhere in the event (keys, strings, nested lists and dicts) before it is
rendered, so a secret cannot reach the output even if a message or exception quoted it.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[REDACTED]"
# Shorter values are not treated as secrets: redacting "a" or "ab" everywhere would shred
# every log line while protecting nothing worth protecting.
MIN_SECRET_LEN = 4


class Redactor:
    """A structlog processor that masks every registered secret value."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: frozenset[str] = frozenset()

    def add(self, values: Iterable[str]) -> None:
        new = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LEN}
        if not new - self._values:
            return
        with self._lock:
            self._values = self._values | new

    def clear(self) -> None:
        with self._lock:
            self._values = frozenset()

    def redact(self, value: Any) -> Any:
        values = self._values
        if not values:
            return value
        return _walk(value, sorted(values, key=len, reverse=True))

    def __call__(self, logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
        values = self._values
        if not values:
            return event
        ordered = sorted(values, key=len, reverse=True)
        return {_walk(k, ordered): _walk(v, ordered) for k, v in event.items()}


def _walk(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, Mapping):
        return {_walk(k, secrets): _walk(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_walk(v, secrets) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return _walk(str(value), secrets)


REDACTOR = Redactor()


def _stringify_exc(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """Exceptions become one line (type: message); never a traceback in daemon output."""
    exc = event.pop("exc_info", None)
    if isinstance(exc, BaseException):
        event.setdefault("error", f"{type(exc).__name__}: {exc}")
    return event


def _event_first(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """``ts``, ``level``, ``event`` lead every line, then the fields in logging order."""
    head = {k: event.pop(k) for k in ("ts", "level", "event") if k in event}
    head.update(event)
    return head


def use_json(fmt: str | None, stream: TextIO) -> bool:
    if fmt is not None:
        return fmt == "json"
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):
        return True


def configure_logging(
    fmt: str | None = None,
    stream: TextIO | None = None,
    *,
    redactor: Redactor = REDACTOR,
) -> None:
    """Configure structlog for this process. ``fmt``: ``console``, ``json`` or ``None``
    (console on a TTY, JSON lines otherwise). Logs go to ``stream`` (default stderr)."""
    out = stream if stream is not None else sys.stderr
    as_json = use_json(fmt, out)
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        _stringify_exc,
        redactor,
    ]
    if as_json:
        processors.append(_event_first)
        processors.append(structlog.processors.JSONRenderer(sort_keys=False))
    else:
        colors = not os.environ.get("NO_COLOR") and _isatty(out)
        processors.append(structlog.dev.ConsoleRenderer(colors=colors))
    structlog.configure(
        processors=processors,
        logger_factory=structlog.WriteLoggerFactory(file=out),
        wrapper_class=structlog.make_filtering_bound_logger(0),
        cache_logger_on_first_use=False,
    )


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def get_logger(name: str = "mailctl") -> Any:
    return structlog.get_logger(name)
