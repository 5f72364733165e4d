"""``mailctl diff``: effective settings at two git revisions (no store), for pull requests."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.common import emit, examples, plan_exit, platform, render, require_configs
from reconciler.cli.options import configs_option, format_option, platform_option
from reconciler.cli.plan import detailed_exitcode_option
from reconciler.reporters.registry import PLAN


@click.command(
    epilog=examples(
        "mailctl diff --base origin/main                  working tree vs main",
        "mailctl diff --base v1.4 --head v1.5 --format markdown",
        codes="like plan: 0 ok, 1 error, 2 changes (with --detailed-exitcode).",
    )
)
@configs_option
@platform_option
@click.option("--base", required=True, help="Git revision to compare from.")
@click.option("--head", default=None, help="Git revision to compare to (default: working tree).")
@detailed_exitcode_option
@format_option(PLAN)
def diff(
    configs: Path,
    platform_defaults: Path | None,
    base: str,
    head: str | None,
    detailed_exitcode: bool,
    fmt: str,
) -> int:
    """Effective settings at two git revisions of the configs folder (for pull requests)."""
    from reconciler.operations import diff_revisions

    require_configs(configs)
    result = diff_revisions(configs, base, head, platform(platform_defaults))
    title = f"mailctl diff {base}..{head or 'working tree'}"  # escaped by each reporter
    emit(render(PLAN, fmt, result, title=title, extra={"base": base, "head": head}))
    return plan_exit(result, detailed_exitcode)
