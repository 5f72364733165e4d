"""``mailctl rollback --to ID``: re-apply the store state of a history entry, then sync
the targets like ``apply`` does (DESIGN §12: every commit reaches the targets)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from reconciler.cli.common import emit, examples, open_store, render
from reconciler.cli.options import (
    ca_option,
    configs_option,
    format_option,
    lock_timeout_option,
    secrets_options,
    store_option,
)
from reconciler.errors import ExitCode
from reconciler.reporters.registry import ROLLBACK


@click.command(
    epilog=examples(
        "mailctl suspend --reason 'rolling back'",
        "mailctl history",
        "mailctl rollback --to 41",
        codes="0, 1 error (e.g. not suspended, unknown entry), 3 rolled back but a target "
        "was not synced (see docs/targets.md).",
    )
)
@store_option
@configs_option
@secrets_options
@ca_option
@click.option("--to", "to_id", type=int, required=True, help="History entry id to restore.")
@lock_timeout_option
@format_option(ROLLBACK)
def rollback(
    store: Path, configs: Path, ca_file: Path | None, to_id: int, lock_timeout: float, fmt: str
) -> int:
    """Re-apply the store state of a history entry (requires suspend); then the targets
    (from the configs folder) receive the rolled-back settings."""
    from reconciler.operations import rollback as do_rollback
    from reconciler.reconcile import actor, sync_rolled_back

    code = ExitCode.OK
    report = None
    with open_store(store, create=False, lock_timeout=lock_timeout) as st:
        hid, scopes = do_rollback(st, to_id, actor())
        if hid is not None and configs.is_dir():
            report = sync_rolled_back(st, configs, str(ca_file) if ca_file else None)
        elif hid is not None and st.target_states():
            code = ExitCode.DEGRADED  # committed; the target manifests are not at hand
            click.echo(
                f"mailctl: targets not synced: configs folder {configs} does not exist "
                "(the target manifests live there); run 'mailctl apply' or pass --configs",
                err=True,
            )
    payload: dict[str, Any] = {"history_id": hid, "to": to_id, "scopes": scopes}
    if report is not None:
        payload["targets"] = report.to_dict()
    emit(render(ROLLBACK, fmt, payload))
    if report is not None and fmt == "text" and report.targets:
        from reconciler.reporters.targets import render_sync

        emit(render_sync(report))
    if report is not None and report.failed:
        code = ExitCode.DEGRADED
    return code
