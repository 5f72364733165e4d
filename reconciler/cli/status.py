"""``mailctl status``: per scope mode, source, applied revision, last probe, conditions."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.common import emit, examples, open_store, render
from reconciler.cli.options import format_option, store_option
from reconciler.errors import ExitCode
from reconciler.reporters.registry import STATUS


@click.command(
    epilog=examples(
        "mailctl status", "mailctl status --format json", codes="0 every scope Ready, 3 any not."
    )
)
@store_option
@format_option(STATUS)
def status(store: Path, fmt: str) -> int:
    """Per scope: mode, source, applied revision, last probe, conditions."""
    from reconciler.operations import all_ready, status_payload

    with open_store(store, create=False) as st:
        payload = status_payload(st)
    emit(render(STATUS, fmt, payload))
    return ExitCode.OK if all_ready(payload) else ExitCode.DEGRADED
