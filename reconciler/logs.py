"""structlog configuration shared by the daemon and ``apply``.

JSON lines when the stream is not a TTY (or with ``--log-format json``), the console
renderer on a TTY. Every event passes through the process's redactor
(:mod:`reconciler.redact`), which masks any known secret value and its encodings anywhere in
the event (keys, strings, nested lists and dicts) before it is rendered, so a secret cannot
reach the output even if a message or exception quoted it.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from reconciler.redact import MASK as REDACTED
from reconciler.redact import REDACTOR, Redactor

__all__ = ["REDACTED", "REDACTOR", "Redactor", "configure_logging", "get_logger", "use_json"]
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
DEFAULT_LEVEL = "info"
_level = {"name": DEFAULT_LEVEL}  # set by ``--log-level`` / MAILCTL_LOG_LEVEL (set_level)


def _redact_event(redactor: Redactor) -> Processor:
    """A structlog processor masking every secret the redactor knows (keys and values)."""

    def process(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
        if not len(redactor):
            return event
        cleaned: EventDict = redactor.redact(event)
        return cleaned

    return process


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


def set_level(name: str) -> None:
    """The process-wide minimum level (``debug``, ``info``, ``warning``, ``error``) that
    :func:`configure_logging` applies when it is not given one."""
    key = name.lower()
    if key not in LEVELS:
        raise ValueError(f"unknown log level {name!r}; use one of {', '.join(LEVELS)}")
    _level["name"] = key


def current_level() -> str:
    return _level["name"]


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
    level: str | None = None,
) -> None:
    """Configure structlog for this process. ``fmt``: ``console``, ``json`` or ``None``
    (console on a TTY, JSON lines otherwise). Logs go to ``stream`` (default stderr).
    Events below ``level`` (default: :func:`current_level`) are dropped."""
    out = stream if stream is not None else sys.stderr
    as_json = use_json(fmt, out)
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        _stringify_exc,
        _redact_event(redactor),
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
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level or current_level()]),
        cache_logger_on_first_use=False,
    )


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def get_logger(name: str = "mailctl") -> Any:
    return structlog.get_logger(name)
