"""``mailctl effective SCOPE``: the settings in effect (or desired), each with its source."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.common import (
    emit,
    examples,
    open_store,
    platform,
    render,
    require_configs,
    store_exists,
)
from reconciler.cli.completion import scope_completer
from reconciler.cli.options import configs_option, format_option, platform_option, store_option
from reconciler.errors import ExitCode, StoreError
from reconciler.reporters.registry import EFFECTIVE


@click.command(
    epilog=examples(
        "mailctl effective host",
        "mailctl effective org/acme --format json",
        codes="0, 1 unknown scope. Scope names complete with Tab (see docs/completion.md).",
    )
)
@click.argument("scope", shell_complete=scope_completer(configs=True, store=True))
@configs_option
@store_option
@platform_option
@click.option(
    "--desired", is_flag=True, help="Show what the configs resolve to, not what is in effect."
)
@format_option(EFFECTIVE)
def effective(
    scope: str,
    configs: Path,
    store: Path,
    platform_defaults: Path | None,
    desired: bool,
    fmt: str,
) -> int:
    """Settings of 'host' or 'org/NAME' in effect (from the store), each field with its
    source; --desired: as the configs resolve them. Says why the two differ."""
    from reconciler.effective import effective_payload, effective_view

    if desired:
        require_configs(configs)
    defaults = platform(platform_defaults)
    if store_exists(store):
        with open_store(store, create=False) as st:
            view = effective_view(
                scope, store=st, configs=configs, platform=defaults, desired=desired
            )
    elif desired:
        view = effective_view(scope, store=None, configs=configs, platform=defaults, desired=True)
    else:
        raise StoreError(
            f"store {store} does not exist: nothing is in effect yet",
            hint="run 'mailctl apply' first, or pass --desired for what the configs resolve to",
        )
    emit(render(EFFECTIVE, fmt, effective_payload(view)))
    return ExitCode.OK
