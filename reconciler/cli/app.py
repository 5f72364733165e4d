"""``mailctl``: the group, the commands it is made of, and the one error boundary.

Every command lives in its own module of this package (pre-commit's ``commands/`` shape)
and is added below by name; nothing registers itself on import and no module imports this
one (``python -m reconciler`` and the ``mailctl`` entry point reach :func:`main` through
``reconciler.cli.main``, which imports it when called). The
command modules import only click and the shared options; each command imports the heavy
modules it needs when it runs, so ``mailctl validate FILE`` (the pre-commit hook) loads
neither the store, nor the probe, nor asyncio.
"""

from __future__ import annotations

import os
import sys

import click

from reconciler import __version__
from reconciler.cli.apply import apply
from reconciler.cli.daemon import daemon
from reconciler.cli.diff import diff
from reconciler.cli.effective import effective
from reconciler.cli.history import history
from reconciler.cli.plan import plan
from reconciler.cli.probe import probe
from reconciler.cli.rollback import rollback
from reconciler.cli.status import status
from reconciler.cli.suspend import resume, suspend
from reconciler.cli.validate import validate
from reconciler.devtools.sink_cli import sink_command
from reconciler.errors import ExitCode, MailctlError

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

COMMANDS: tuple[click.Command, ...] = (
    validate,
    plan,
    diff,
    apply,
    status,
    effective,
    probe,
    history,
    rollback,
    suspend,
    resume,
    daemon,
    sink_command,
)


def build_cli() -> click.Group:
    """The ``mailctl`` group with every command added (a new one: its module, then here)."""

    @click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
    @click.version_option(__version__, prog_name="mailctl")
    def cli() -> None:
        """Declarative SMTP mail settings for a host and its organizations.

        Manifests (YAML, one per host and per organization) live in a configs folder;
        mailctl validates them, plans and applies them to a store, and proves every change
        with an SMTP test probe. Exit codes: 0 ok, 1 error, 2 changes (plan/diff
        --detailed-exitcode), 3 applied but not healthy (probes failed, scopes held).
        """

    for command in COMMANDS:
        cli.add_command(command)
        # Every option that reads an environment variable says so in --help ("env var: ...").
        for param in command.params:
            if isinstance(param, click.Option) and param.envvar:
                param.show_envvar = True
    return cli


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


def _redacted(text: str) -> str:
    from reconciler.redact import redact_text

    return redact_text(text)


def main(argv: list[str] | None = None) -> None:
    """The error boundary: every exit code and every one-line error comes from here."""
    try:
        rv = build_cli().main(args=argv, prog_name="mailctl", standalone_mode=False)
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
