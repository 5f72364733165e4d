"""The ``mailctl`` command line: a thin shell.

click parses options, a core function does the work and returns a result, a reporter renders
it, and ``main`` is the one error boundary that maps exceptions to exit codes and one line.
Heavy modules are imported inside commands so that ``mailctl validate FILE`` (the pre-commit
case) starts fast.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler import __version__
from reconciler.errors import ExitCode, MailctlError
from reconciler.reporters.registry import VALIDATION, formats

F = TypeVar("F", bound=Callable[..., Any])


def configs_option(f: F) -> F:
    return click.option(
        "--configs",
        envvar="MAILCTL_CONFIGS",
        show_envvar=True,
        default="configs",
        show_default=True,
        type=click.Path(path_type=Path),
        help="Folder holding the manifests.",
    )(f)


def store_option(f: F) -> F:
    return click.option(
        "--store",
        envvar="MAILCTL_STORE",
        show_envvar=True,
        default="mailctl.db",
        show_default=True,
        type=click.Path(path_type=Path),
        help="SQLite store file.",
    )(f)


def ca_option(f: F) -> F:
    return click.option(
        "--ca-file",
        envvar="MAILCTL_CA_FILE",
        show_envvar=True,
        default=None,
        type=click.Path(dir_okay=False, path_type=Path),
        help="Extra trusted CA certificates (PEM) for the SMTP probe.",
    )(f)


def _set_ehlo_name(_ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    from reconciler.probe.engine import set_default_ehlo_name

    try:
        set_default_ehlo_name(value or None)
    except ValueError as exc:
        raise click.BadParameter(f"{exc}: use a host name or an address literal") from exc


def ehlo_option(f: F) -> F:
    """``--ehlo-name``: applied to the probe engine as the process default when parsed."""
    return click.option(
        "--ehlo-name",
        envvar="MAILCTL_EHLO_NAME",
        default=None,
        expose_value=False,
        callback=_set_ehlo_name,
        help="Name the SMTP probe announces in EHLO for scopes without probe.ehloName "
        "(default: this machine's FQDN, else its address literal).",
    )(f)


def platform_option(f: F) -> F:
    return click.option(
        "--platform-defaults",
        envvar="MAILCTL_PLATFORM_DEFAULTS",
        show_envvar=True,
        default=None,
        type=click.Path(dir_okay=False, path_type=Path),
        help="HostMailSettings manifest (custom mode) replacing the built-in platform defaults.",
    )(f)


def secrets_options(f: F) -> F:
    """``--secrets-dir`` (repeatable) and ``--shared-secrets``: set this process's secret
    policy (roots, tenant scoping) before the command runs (docs/secrets.md)."""

    @functools.wraps(f)
    def run(*args: Any, secrets_dirs: tuple[Path, ...], shared_secrets: bool, **kw: Any) -> Any:
        from reconciler.secrets import SecretPolicy, set_policy

        set_policy(SecretPolicy.from_settings(secrets_dirs, shared_secrets or None))
        return f(*args, **kw)

    run = click.option(
        "--shared-secrets",
        is_flag=True,
        envvar="MAILCTL_SHARED_SECRETS",
        help="Turn tenant scoping of secrets off (one team owns every manifest).",
    )(run)
    run = click.option(
        "--secrets-dir",
        "secrets_dirs",
        multiple=True,
        envvar="MAILCTL_SECRETS_DIRS",
        type=click.Path(file_okay=False, path_type=Path),
        help="Secret root for {file: ...} references (repeatable; default "
        "$CREDENTIALS_DIRECTORY, else /run/secrets).",
    )(run)
    return run  # type: ignore[return-value]


def probe_policy_option(f: F) -> F:
    return click.option(
        "--probe",
        "policy",
        type=click.Choice(["after", "gate", "off"]),
        default="after",
        show_default=True,
        help="after: apply then probe; gate: probe first, a failing scope keeps its "
        "previous settings; off: no probe.",
    )(f)


def revision_option(f: F) -> F:
    return click.option(
        "--revision", default=None, help="Revision id to record (default: git HEAD)."
    )(f)


def format_option(*choices: str) -> Callable[[F], F]:
    def deco(f: F) -> F:
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(choices),
            default="text",
            show_default=True,
            help="Output format.",
        )(f)

    return deco


def _set_log_level(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    from reconciler.logs import set_level

    if value is not None:
        set_level(value)


def log_option(f: F) -> F:
    """``--log-format`` (passed to the command) and ``--log-level`` (applied process-wide by
    its callback, so commands need no extra parameter)."""
    f = click.option(
        "--log-level",
        type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
        envvar="MAILCTL_LOG_LEVEL",
        default=None,
        expose_value=False,
        callback=_set_log_level,
        help="Least severe log event shown (default: info).",
    )(f)
    return click.option(
        "--log-format",
        type=click.Choice(["console", "json"]),
        default=None,
        help="Log format (default: console on a TTY, JSON lines otherwise).",
    )(f)


EPILOG = """\b
Examples:
  mailctl validate                        check every manifest in ./configs
  mailctl plan --store /var/lib/mailctl/mailctl.db
  mailctl diff --base origin/main --format markdown
  mailctl apply --probe gate
  mailctl effective org/acme

\b
Environment:
  MAILCTL_CONFIGS, MAILCTL_STORE, ...   option defaults (see each command's --help)
  NO_COLOR                              plain text output
  MAILCTL_DEBUG=1                       a traceback instead of the one-line error

\b
Shell completion (commands, options, scope names), e.g. for bash in ~/.bashrc:
  eval "$(_MAILCTL_COMPLETE=bash_source mailctl)"
(zsh: zsh_source, fish: fish_source). Reference: docs/ in the repository.
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(__version__, prog_name="mailctl")
def cli() -> None:
    """Declarative SMTP mail settings for a host and its organizations.

    Manifests (YAML, one per host and per organization) live in a configs folder; mailctl
    validates them, plans and applies them to a store, and proves every change with an
    SMTP test probe. Exit codes: 0 ok, 1 error, 2 changes (plan/diff
    --detailed-exitcode), 3 applied but not healthy (probes failed, scopes held).
    """


def _redacted(text: str) -> str:
    from reconciler.redact import redact_text

    return redact_text(text)


def emit(text: str) -> None:
    """Print a command's output, masking every secret this process has resolved."""
    from reconciler.redact import redact_text

    click.echo(redact_text(text))


@cli.command(
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
@format_option(*formats(VALIDATION))
def validate(
    paths: tuple[Path, ...], configs: Path, strict: bool, skip_foreign: bool, fmt: str
) -> int:
    """Validate manifests (files or folders; default: the configs folder)."""
    from reconciler.reporters import use_color
    from reconciler.reporters.registry import RenderContext, render
    from reconciler.validate import validate_paths

    targets = list(paths) or [configs]
    if not paths and not configs.is_dir():
        raise MailctlError(
            f"configs folder {configs} does not exist",
            hint="pass files or folders, or set --configs / MAILCTL_CONFIGS",
        )
    run = validate_paths(targets, skip_foreign=skip_foreign)
    result = run.result
    emit(render(VALIDATION, fmt, result, RenderContext(color=use_color(), strict=strict)))
    return ExitCode.OK if result.valid(strict=strict) else ExitCode.ERROR


def _register_optional() -> None:
    """Commands living in their own modules (kept out of the validate start-up path)."""
    from reconciler import commands  # noqa: F401 - registers commands on ``cli``

    # Every option that reads an environment variable says so in --help ("env var: ...").
    for command in cli.commands.values():
        for param in command.params:
            if isinstance(param, click.Option) and param.envvar:
                param.show_envvar = True


def usage_line(exc: click.ClickException) -> str:
    """One line for any click error: ``mailctl: error: <message> (see 'mailctl CMD --help')``.

    click's own rendering is a usage block, a blank line and the message; the message alone
    (newlines folded) plus where to look is what a user or a CI log needs."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError):
        path = ctx.command_path if ctx is not None else "mailctl"
        return f"mailctl: error: {message} (see '{path} --help')"
    return f"mailctl: error: {message}"


def main(argv: list[str] | None = None) -> None:
    """The error boundary: every exit code and every one-line error comes from here."""
    try:
        _register_optional()
        rv = cli.main(args=argv, prog_name="mailctl", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("mailctl: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        # Usage errors exit 1, not click's 2: 2 means "changes present" for plan/diff.
        click.echo(usage_line(exc), err=True)
        sys.exit(ExitCode.ERROR)
    except MailctlError as exc:
        from reconciler.reporters.escape import term

        click.echo(_redacted(f"mailctl: error: {exc.stage}: {term(exc.message)}"), err=True)
        if exc.hint:
            click.echo(_redacted(f"  hint: {term(exc.hint)}"), err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("mailctl: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # the boundary: no traceback for users unless asked
        if os.environ.get("MAILCTL_DEBUG"):
            raise
        click.echo(
            _redacted(
                f"mailctl: internal error: {type(exc).__name__}: {exc} "
                "(set MAILCTL_DEBUG=1 for a traceback)"
            ),
            err=True,
        )
        sys.exit(ExitCode.ERROR)
    sys.exit(int(rv) if isinstance(rv, int) else 0)
