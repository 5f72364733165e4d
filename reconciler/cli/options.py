"""The options and parameter types that several commands share.

A command module stacks these decorators; an option used by one command only stays in that
command's module. Each option reading an environment variable shows it in ``--help``
(``show_envvar``; ``main`` also turns it on for every option with an ``envvar``).
Callbacks that touch heavy modules import them when they run, never at import time.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler.errors import UsageError
from reconciler.reporters.registry import formats

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


class StoreTarget(click.ParamType):  # type: ignore[type-arg]
    """``--store``: a file path (SQLite) as a Path, or a URL such as ``postgresql://`` kept
    as text (a Path would fold its ``//``)."""

    name = "path"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Path | str:
        if isinstance(value, Path):
            return value
        text = str(value)
        if "://" in text and not text.startswith("sqlite://"):
            return text
        return Path(text.removeprefix("sqlite://"))


def store_option(f: F) -> F:
    return click.option(
        "--store",
        envvar="MAILCTL_STORE",
        show_envvar=True,
        default="mailctl.db",
        show_default=True,
        type=StoreTarget(),
        help="SQLite file or URL.",
    )(f)


def _file_option(name: str, envvar: str, text: str) -> Callable[[F], F]:
    """An optional file path (a Path, no default) that may come from ``envvar``."""

    def deco(f: F) -> F:
        return click.option(
            name,
            envvar=envvar,
            show_envvar=True,
            default=None,
            type=click.Path(dir_okay=False, path_type=Path),
            help=text,
        )(f)

    return deco


ca_option = _file_option(
    "--ca-file", "MAILCTL_CA_FILE", "Extra trusted CA certificates (PEM) for the SMTP probe."
)


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


platform_option = _file_option(
    "--platform-defaults",
    "MAILCTL_PLATFORM_DEFAULTS",
    "HostMailSettings manifest (custom mode) replacing the built-in platform defaults.",
)


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


def format_option(kind: str) -> Callable[[F], F]:
    """``--format``: exactly the formats registered for results of ``kind``
    (``reconciler.reporters.registry``); the first registered is the default."""
    choices = formats(kind)

    def deco(f: F) -> F:
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(choices),
            default=choices[0],
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


class Seconds(click.ParamType):  # type: ignore[type-arg]
    """A finite number of seconds in ``0..maximum`` (``nan`` and ``inf`` are usage errors)."""

    name = "seconds"

    def __init__(self, maximum: float) -> None:
        self.maximum = maximum

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds):
            self.fail(f"{value!r} is not a finite number of seconds", param, ctx)
        if not 0 <= seconds <= self.maximum:
            self.fail(f"{value!r} is not between 0 and {self.maximum:g} seconds", param, ctx)
        return seconds


history_keep_option = click.option(
    "--history-keep",
    type=click.IntRange(min=1),
    envvar="MAILCTL_HISTORY_KEEP",
    default=1000,  # reconciler.commit.DEFAULT_HISTORY_KEEP (not imported: --help stays light)
    show_default=True,
    metavar="N",
    help="Keep the newest N history entries; older ones are dropped when an apply records"
    " a new one (rollback can only go back to kept entries).",
)

lock_timeout_option = click.option(
    "--lock-timeout",
    type=Seconds(86_400),
    default=30.0,
    show_default=True,
    help="Seconds to wait while another process writes to the store.",
)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """``10m``, ``30s``, ``500ms``, ``1h30m``, or plain seconds -> seconds."""
    t = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", t):
        return float(t)
    pos, total = 0, 0.0
    for m in _DURATION.finditer(t):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(t) or not t:
        raise UsageError(f"{text!r} is not a duration", hint="use e.g. 10m, 30s, 500ms, 1h30m")
    return total


def duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    """click callback: a duration option's text -> seconds (``callback=duration``)."""
    try:
        return parse_duration(value)
    except UsageError as exc:
        raise click.BadParameter(exc.message, ctx, param) from exc


def durations(ctx: click.Context, param: click.Parameter, value: str) -> tuple[float, ...]:
    """click callback: ``D1,D2,...`` -> positive seconds each."""
    try:
        steps = tuple(parse_duration(part) for part in value.split(","))
    except UsageError as exc:
        raise click.BadParameter(exc.message, ctx, param) from exc
    if not steps or min(steps) <= 0:
        raise click.BadParameter("every step must be a positive duration", ctx, param)
    return steps
