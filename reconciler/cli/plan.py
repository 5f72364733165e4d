"""``mailctl plan``: desired (the configs folder) against the store."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.common import (
    command_progress,
    emit,
    examples,
    open_store,
    plan_exit,
    platform,
    render,
    require_configs,
    store_exists,
)
from reconciler.cli.options import (
    configs_option,
    format_option,
    platform_option,
    secrets_options,
    store_option,
)
from reconciler.errors import ExitCode
from reconciler.reporters.registry import PLAN

detailed_exitcode_option = click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes."
)


@click.command(
    epilog=examples(
        "mailctl plan",
        "mailctl plan --detailed-exitcode --format json > plan.json",
        codes="0 ok, 1 error (or an invalid manifest with --detailed-exitcode), "
        "2 changes or pending target syncs (with --detailed-exitcode).",
    )
)
@configs_option
@store_option
@platform_option
@secrets_options
@detailed_exitcode_option
@format_option(PLAN)
def plan(
    configs: Path, store: Path, platform_defaults: Path | None, detailed_exitcode: bool, fmt: str
) -> int:
    """Show what apply would change: desired (configs) vs the store."""
    from reconciler.reconcile import plan_folder

    require_configs(configs)
    defaults = platform(platform_defaults)
    with command_progress() as progress:
        if store_exists(store):
            with open_store(store, create=False) as st:
                result, _ = plan_folder(st, configs, defaults, progress=progress)
        else:  # no store yet: everything would be created
            result, _ = plan_folder(None, configs, defaults, progress=progress)
    emit(render(PLAN, fmt, result, title="mailctl plan"))
    code = plan_exit(result, detailed_exitcode)
    if detailed_exitcode and code == ExitCode.OK and result.pending_syncs:
        return ExitCode.CHANGES  # the store matches, a target does not yet: apply would act
    return code
