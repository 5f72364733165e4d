"""What the command modules share besides options: output, the store, the configs folder.

Light on purpose: everything heavy (the store, the resolver, git) is imported inside the
function that needs it, so importing a command module costs click and little else.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.errors import ExitCode, MailctlError

if TYPE_CHECKING:
    from reconciler.progress import Progress


def emit(text: str) -> None:
    """Print a command's output, masking every secret this process has resolved."""
    from reconciler.redact import redact_text

    click.echo(redact_text(text))


def render(kind: str, fmt: str, result: Any, **ctx: Any) -> str:
    """``result`` in format ``fmt`` by the reporter registered for ``kind``; colour when
    stdout is a terminal (and ``NO_COLOR`` is unset)."""
    from reconciler.reporters import use_color
    from reconciler.reporters.registry import RenderContext
    from reconciler.reporters.registry import render as render_kind

    return render_kind(kind, fmt, result, RenderContext(color=use_color(), **ctx))


def examples(*lines: str, codes: str) -> str:
    """A command epilog: examples kept as written (click's ``\\b``), then the exit codes."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines) + f"\n\nExit codes: {codes}"


def open_store(
    path: Path | str, *, create: bool = True, lock_timeout: float = 30.0, new_key: bool = False
) -> Any:
    from reconciler.store import open_store as open_backend

    return open_backend(path, create=create, lock_timeout_s=lock_timeout, new_key=new_key)


def store_exists(store: Path | str) -> bool:
    """A URL names a database: whether it holds a store is the backend's to say."""
    return isinstance(store, str) or store.exists()


def require_configs(configs: Path) -> None:
    if not configs.is_dir():
        raise MailctlError(
            f"configs folder {configs} does not exist",
            hint="pass --configs DIR or set MAILCTL_CONFIGS",
        )


def platform(path: Path | None) -> Any:
    from reconciler.resolve import load_platform_defaults

    return load_platform_defaults(path)


def command_log(name: str, log_format: str | None) -> Any:
    """The structured-event logger of a command run with ``--log-format``, else ``None``."""
    if log_format is None:
        return None
    from reconciler.logs import configure_logging, get_logger

    configure_logging(log_format)
    return get_logger(name)


def git_revision(configs: Path, log: Any) -> str:
    """The git revision of ``configs``; when git cannot tell, say why once (stderr, or a
    ``revision.unversioned`` event when logging) instead of recording it silently."""
    from reconciler.gitrev import read_revision

    rev = read_revision(configs)
    if rev.reason is not None:
        if log is not None:
            log.warning(
                "revision.unversioned",
                revision=rev.id,
                reason=rev.reason,
                hint=rev.hint,
                message=rev.warning,
            )
        else:
            click.echo(f"mailctl: warning: {rev.warning}", err=True)
            if rev.hint:
                click.echo(f"  hint: {rev.hint}", err=True)
    return rev.id


def plan_exit(plan: Any, detailed: bool) -> int:
    """plan/diff: 1 when a manifest is invalid (after the plan of the valid ones), 2 for
    changes with ``--detailed-exitcode``, else 0."""
    if plan.invalid:
        return ExitCode.ERROR
    if detailed and plan.has_changes:
        return ExitCode.CHANGES
    return ExitCode.OK


@contextmanager
def command_progress(log: Any = None) -> Iterator[Progress]:
    """The callbacks of a long CLI command: the structured-event stream when the command
    logs (``--log-format``), otherwise a status line on stderr when it is a terminal
    (erased when the block ends, also on errors); nothing else is ever drawn."""
    if log is not None:
        from reconciler.events import EventStream

        yield EventStream(log)
        return
    from reconciler.progress import NULL, for_terminal

    tty = for_terminal(sys.stderr)
    try:
        yield tty if tty is not None else NULL
    finally:
        if tty is not None:
            tty.finish()
