"""``mailctl rollback --to ID``: re-apply the store state of a history entry."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.common import emit, examples, open_store, render
from reconciler.cli.options import format_option, lock_timeout_option, store_option
from reconciler.errors import ExitCode
from reconciler.reporters.registry import ROLLBACK


@click.command(
    epilog=examples(
        "mailctl suspend --reason 'rolling back'",
        "mailctl history",
        "mailctl rollback --to 41",
        codes="0, 1 error (e.g. not suspended, unknown entry).",
    )
)
@store_option
@click.option("--to", "to_id", type=int, required=True, help="History entry id to restore.")
@lock_timeout_option
@format_option(ROLLBACK)
def rollback(store: Path, to_id: int, lock_timeout: float, fmt: str) -> int:
    """Re-apply the store state of a history entry (requires suspend)."""
    from reconciler.operations import rollback as do_rollback
    from reconciler.reconcile import actor

    with open_store(store, create=False, lock_timeout=lock_timeout) as st:
        hid, scopes = do_rollback(st, to_id, actor())
    emit(render(ROLLBACK, fmt, {"history_id": hid, "to": to_id, "scopes": scopes}))
    return ExitCode.OK
