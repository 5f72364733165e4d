"""``mailctl suspend --reason TEXT`` and ``mailctl resume``: the daemon's pause switch."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.common import emit, examples, open_store, render
from reconciler.cli.options import format_option, lock_timeout_option, store_option
from reconciler.errors import ExitCode
from reconciler.reporters.registry import SUSPENSION


def _set_suspended(store: Path, reason: str | None, lock_timeout: float, fmt: str) -> int:
    from reconciler.reconcile import actor

    # never create a store to suspend it
    with open_store(store, create=False, lock_timeout=lock_timeout) as st:
        st.set_suspended(reason, actor())
        susp = st.suspension()
    payload = {"suspended": susp.suspended, "reason": susp.reason, "at": susp.at, "by": susp.by}
    emit(render(SUSPENSION, fmt, payload))
    return ExitCode.OK


@click.command(
    epilog=examples("mailctl suspend --reason 'incident 4711: relay down'", codes="0, 1 error.")
)
@store_option
@click.option("--reason", required=True, help="Why; shown in status.")
@lock_timeout_option
@format_option(SUSPENSION)
def suspend(store: Path, reason: str, lock_timeout: float, fmt: str) -> int:
    """Pause reconciliation (the daemon waits; apply refuses without --ignore-suspend)."""
    return _set_suspended(store, reason, lock_timeout, fmt)


@click.command()
@store_option
@lock_timeout_option
@format_option(SUSPENSION)
def resume(store: Path, lock_timeout: float, fmt: str) -> int:
    """Resume reconciliation."""
    return _set_suspended(store, None, lock_timeout, fmt)
