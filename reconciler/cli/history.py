"""``mailctl history [SCOPE]``: applied revisions, newest first."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.common import emit, examples, open_store, render
from reconciler.cli.completion import scope_completer
from reconciler.cli.options import format_option, store_option
from reconciler.errors import ExitCode
from reconciler.reporters.registry import HISTORY


@click.command(
    epilog=examples("mailctl history", "mailctl history org/acme --limit 10", codes="0, 1 error.")
)
@click.argument("scope", required=False, shell_complete=scope_completer(configs=False, store=True))
@store_option
@click.option("--limit", default=50, show_default=True, help="Entries to show.")
@format_option(HISTORY)
def history(scope: str | None, store: Path, limit: int, fmt: str) -> int:
    """Applied revisions, newest first (optionally of one scope)."""
    from reconciler.operations import history_payload

    with open_store(store, create=False) as st:
        payload = history_payload(st, scope, limit)
    emit(render(HISTORY, fmt, payload))
    return ExitCode.OK
