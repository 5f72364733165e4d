"""``mailctl apply``: plan, commit in one transaction, record the revision, then probe."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.common import (
    command_log,
    command_progress,
    emit,
    examples,
    git_revision,
    open_store,
    platform,
    render,
    require_configs,
)
from reconciler.cli.options import (
    ca_option,
    configs_option,
    ehlo_option,
    format_option,
    history_keep_option,
    lock_timeout_option,
    log_option,
    platform_option,
    probe_policy_option,
    revision_option,
    secrets_options,
    store_option,
)
from reconciler.errors import StoreError
from reconciler.reporters.registry import APPLY


@click.command(
    epilog=examples(
        "mailctl apply",
        'mailctl apply --probe gate --revision "$(git rev-parse HEAD)"',
        codes="0 applied and probes passed (or nothing to do), 1 nothing applied (error), "
        "3 applied with failed probes or held scopes.",
    )
)
@configs_option
@store_option
@platform_option
@secrets_options
@ca_option
@ehlo_option
@probe_policy_option
@revision_option
@lock_timeout_option
@history_keep_option
@click.option(
    "--new-fingerprint-key",
    is_flag=True,
    help="The store's fingerprint key file is lost for good: make a new key"
    " (every secret then shows as changed once).",
)
@click.option("--ignore-suspend", is_flag=True, help="Apply even though the store is suspended.")
@format_option(APPLY)
@log_option
def apply(
    configs: Path,
    store: Path,
    platform_defaults: Path | None,
    ca_file: Path | None,
    policy: str,
    revision: str | None,
    lock_timeout: float,
    history_keep: int,
    new_fingerprint_key: bool,
    ignore_suspend: bool,
    fmt: str,
    log_format: str | None,
) -> int:
    """Plan, apply in one transaction, record the revision, then probe."""
    from reconciler.daemon.stores import writer_lease
    from reconciler.reconcile import ProbeOptions, apply_run
    from reconciler.validate import validate_paths

    require_configs(configs)
    defaults = platform(platform_defaults)
    log = command_log("mailctl.apply", log_format)
    rev = revision or git_revision(configs, log)
    with (
        open_store(store, lock_timeout=lock_timeout, new_key=new_fingerprint_key) as st,
        writer_lease(st, wait_s=lock_timeout),  # a shared store: the daemons' leader lease
    ):
        susp = st.suspension()
        if susp.suspended and not ignore_suspend:
            raise StoreError(
                f"the store is suspended ({susp.reason}); nothing applied",
                hint="run 'mailctl resume', or pass --ignore-suspend",
            )
        with command_progress(log) as progress:
            run = validate_paths([configs], progress=progress)
            if log is not None:
                from reconciler.events import log_invalid

                log_invalid(log, run.broken, run.set_errors)
            result = apply_run(
                st,
                run,
                platform=defaults,
                revision=rev,
                policy=policy,  # type: ignore[arg-type]
                probe_options=ProbeOptions(ca_file=str(ca_file) if ca_file else None),
                progress=progress,
                history_keep=history_keep,
            )
    emit(render(APPLY, fmt, result))
    return result.exit_code
