"""``mailctl validate``: the pre-commit hook's command, so the lightest start-up of all."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.common import emit, render
from reconciler.cli.options import configs_option, format_option, secrets_options
from reconciler.errors import ExitCode, MailctlError
from reconciler.reporters.registry import VALIDATION


@click.command(
    epilog="""\b
Examples:
  mailctl validate                          the configs folder (set-wide rules apply)
  mailctl validate configs/orgs/acme.yaml   one file on its own
  mailctl validate --skip-foreign $(git ls-files '*.yaml')
  mailctl validate --strict --format json

Exit codes: 0 valid, 1 invalid."""
)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@configs_option
@secrets_options
@click.option("--strict", is_flag=True, help="Warnings fail too.")
@click.option(
    "--skip-foreign",
    is_flag=True,
    help="Skip files given one by one that are not mailctl manifests (no top-level "
    "'apiVersion: mailctl/...' or mailctl kind), e.g. compose files or Kubernetes "
    "manifests. The pre-commit hook passes it.",
)
@format_option(VALIDATION)
def validate(
    paths: tuple[Path, ...], configs: Path, strict: bool, skip_foreign: bool, fmt: str
) -> int:
    """Validate manifests (files or folders; default: the configs folder)."""
    from reconciler.validate import validate_paths

    targets = list(paths) or [configs]
    if not paths and not configs.is_dir():
        raise MailctlError(
            f"configs folder {configs} does not exist",
            hint="pass files or folders, or set --configs / MAILCTL_CONFIGS",
        )
    result = validate_paths(targets, skip_foreign=skip_foreign).result
    emit(render(VALIDATION, fmt, result, strict=strict))
    return ExitCode.OK if result.valid(strict=strict) else ExitCode.ERROR
