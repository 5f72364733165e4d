"""The store-facing commands: plan, diff, apply, status, effective, probe, history,
rollback, suspend, resume. Thin shells: parse, call a core function, render, return a code."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from reconciler.cli import (
    ca_option,
    cli,
    configs_option,
    ehlo_option,
    emit,
    format_option,
    log_option,
    platform_option,
    probe_policy_option,
    revision_option,
    secrets_options,
    store_option,
)
from reconciler.completion import scope_completer
from reconciler.errors import ExitCode, MailctlError, StoreError
from reconciler.progress import command_progress
from reconciler.reporters import plural, to_json, use_color
from reconciler.reporters.registry import PLAN, formats


def _open_store(
    path: Path, *, create: bool = True, lock_timeout: float = 30.0, new_key: bool = False
) -> Any:
    from reconciler.store import open_store

    return open_store(path, create=create, lock_timeout_s=lock_timeout, new_key=new_key)


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


def _require_configs(configs: Path) -> None:
    if not configs.is_dir():
        raise MailctlError(
            f"configs folder {configs} does not exist",
            hint="pass --configs DIR or set MAILCTL_CONFIGS",
        )


def _platform(path: Path | None) -> Any:
    from reconciler.resolve import load_platform_defaults

    return load_platform_defaults(path)


def _command_log(name: str, log_format: str | None) -> Any:
    """The structured-event logger of a command run with ``--log-format``, else ``None``."""
    if log_format is None:
        return None
    from reconciler.logs import configure_logging, get_logger

    configure_logging(log_format)
    return get_logger(name)


def _git_revision(configs: Path, log: Any) -> str:
    """The git revision of ``configs``; when git cannot tell, say why once (stderr, or a
    ``revision.unversioned`` event when logging) instead of recording it silently."""
    from reconciler.gitrev import read_revision

    rev = read_revision(configs)
    if rev.reason is not None:
        if log is not None:
            log.warning(
                "revision.unversioned",
                revision=rev.id,
                reason=rev.reason,
                hint=rev.hint,
                message=rev.warning,
            )
        else:
            click.echo(f"mailctl: warning: {rev.warning}", err=True)
            if rev.hint:
                click.echo(f"  hint: {rev.hint}", err=True)
    return rev.id


def _render_plan(plan: Any, fmt: str, title: str, **extra: Any) -> str:
    from reconciler.reporters.registry import PLAN, RenderContext, render

    return render(PLAN, fmt, plan, RenderContext(color=use_color(), title=title, extra=extra))


def _examples(*lines: str, codes: str) -> str:
    """A command epilog: examples kept as written (click's ``\\b``), then the exit codes."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines) + f"\n\nExit codes: {codes}"


def _plan_exit(plan: Any, detailed: bool) -> int:
    if plan.invalid:  # an invalid manifest is an error, after the plan of the valid ones
        return ExitCode.ERROR
    if detailed and plan.has_changes:
        return ExitCode.CHANGES
    return ExitCode.OK


@cli.command(
    epilog=_examples(
        "mailctl plan",
        "mailctl plan --detailed-exitcode --format json > plan.json",
        codes="0 ok, 1 error (or an invalid manifest with --detailed-exitcode), "
        "2 changes (with --detailed-exitcode).",
    )
)
@configs_option
@store_option
@platform_option
@secrets_options
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@format_option(*formats(PLAN))
def plan(
    configs: Path, store: Path, platform_defaults: Path | None, detailed_exitcode: bool, fmt: str
) -> int:
    """Show what apply would change: desired (configs) vs the store."""
    from reconciler.reconcile import plan_folder

    _require_configs(configs)
    platform = _platform(platform_defaults)
    with command_progress() as progress:
        if store.exists():
            with _open_store(store, create=False) as st:
                result, _ = plan_folder(st, configs, platform, progress=progress)
        else:  # no store yet: everything would be created
            result, _ = plan_folder(None, configs, platform, progress=progress)
    emit(_render_plan(result, fmt, "mailctl plan"))
    return _plan_exit(result, detailed_exitcode)


@cli.command(
    epilog=_examples(
        "mailctl diff --base origin/main                  working tree vs main",
        "mailctl diff --base v1.4 --head v1.5 --format markdown",
        codes="like plan: 0 ok, 1 error, 2 changes (with --detailed-exitcode).",
    )
)
@configs_option
@platform_option
@click.option("--base", required=True, help="Git revision to compare from.")
@click.option("--head", default=None, help="Git revision to compare to (default: working tree).")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@format_option(*formats(PLAN))
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

    _require_configs(configs)
    result = diff_revisions(configs, base, head, _platform(platform_defaults))
    from reconciler.reporters.escape import md_code

    title = f"mailctl diff {base}..{head or 'working tree'}"  # escaped by each reporter
    if fmt == "markdown":
        title = f"mailctl diff {md_code(base)}..{md_code(head or 'working tree')}"
    emit(_render_plan(result, fmt, title, base=base, head=head))
    return _plan_exit(result, detailed_exitcode)


lock_timeout_option = click.option(
    "--lock-timeout",
    type=Seconds(86_400),
    default=30.0,
    show_default=True,
    help="Seconds to wait while another process writes to the store.",
)


@cli.command(
    epilog=_examples(
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
@click.option(
    "--new-fingerprint-key",
    is_flag=True,
    help="The store's fingerprint key file is lost for good: make a new key"
    " (every secret then shows as changed once).",
)
@click.option("--ignore-suspend", is_flag=True, help="Apply even though the store is suspended.")
@format_option("text", "json")
@log_option
def apply(
    configs: Path,
    store: Path,
    platform_defaults: Path | None,
    ca_file: Path | None,
    policy: str,
    revision: str | None,
    lock_timeout: float,
    new_fingerprint_key: bool,
    ignore_suspend: bool,
    fmt: str,
    log_format: str | None,
) -> int:
    """Plan, apply in one transaction, record the revision, then probe."""
    from reconciler.reconcile import ProbeOptions, apply_run
    from reconciler.reporters.apply import render_json, render_text
    from reconciler.validate import validate_paths

    _require_configs(configs)
    platform = _platform(platform_defaults)
    log = _command_log("mailctl.apply", log_format)
    rev = revision or _git_revision(configs, log)
    with _open_store(store, lock_timeout=lock_timeout, new_key=new_fingerprint_key) as st:
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
                platform=platform,
                revision=rev,
                policy=policy,  # type: ignore[arg-type]
                probe_options=ProbeOptions(ca_file=str(ca_file) if ca_file else None),
                progress=progress,
            )
    emit(render_json(result) if fmt == "json" else render_text(result, color=use_color()))
    return result.exit_code


@cli.command(
    epilog=_examples(
        "mailctl status", "mailctl status --format json", codes="0 every scope Ready, 3 any not."
    )
)
@store_option
@format_option("text", "json")
def status(store: Path, fmt: str) -> int:
    """Per scope: mode, source, applied revision, last probe, conditions."""
    from reconciler.operations import all_ready, status_payload
    from reconciler.reporters.status import render_status

    with _open_store(store, create=False) as st:
        payload = status_payload(st)
    emit(to_json(payload) if fmt == "json" else render_status(payload, color=use_color()))
    return ExitCode.OK if all_ready(payload) else ExitCode.DEGRADED


@cli.command(
    epilog=_examples(
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
@format_option("text", "json")
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
    from reconciler.reporters.status import render_effective

    if desired:
        _require_configs(configs)
    platform = _platform(platform_defaults)
    if store.exists():
        with _open_store(store, create=False) as st:
            view = effective_view(
                scope, store=st, configs=configs, platform=platform, desired=desired
            )
    elif desired:
        view = effective_view(scope, store=None, configs=configs, platform=platform, desired=True)
    else:
        raise StoreError(
            f"store {store} does not exist: nothing is in effect yet",
            hint="run 'mailctl apply' first, or pass --desired for what the configs resolve to",
        )
    payload = effective_payload(view)
    emit(to_json(payload) if fmt == "json" else render_effective(payload))
    return ExitCode.OK


@cli.command(
    epilog=_examples(
        "mailctl probe                      every stored scope",
        "mailctl probe host org/acme --ca-file corp-ca.pem",
        codes="0 all passed, 1 error (e.g. a scope not in the store), 3 some failed.",
    )
)
@click.argument("scopes", nargs=-1, shell_complete=scope_completer(configs=False, store=True))
@store_option
@ca_option
@ehlo_option
@secrets_options
@format_option("text", "json")
def probe(scopes: tuple[str, ...], store: Path, ca_file: Path | None, fmt: str) -> int:
    """Probe the stored effective settings now (all scopes, or the ones named)."""
    from reconciler.errors import UnknownScopeError
    from reconciler.probing import ProbeOptions, probe_after_commit, probe_inputs
    from reconciler.reporters.status import render_probes
    from reconciler.secrets import SecretCache

    with _open_store(store, create=False) as st:
        records = st.scopes()
        names = list(scopes) or list(records)
        unknown = [s for s in names if s not in records]
        if unknown:
            raise UnknownScopeError(
                f"not in the store: {', '.join(unknown)}", hint="see 'mailctl status'"
            )
        inputs = probe_inputs(records, names, SecretCache(st.fingerprint_key()))
        opts = ProbeOptions(ca_file=str(ca_file) if ca_file else None)
        with command_progress() as progress:
            outcomes = probe_after_commit(st, inputs, opts, progress=progress)
    emit(to_json({"results": outcomes}) if fmt == "json" else render_probes(outcomes))
    failed = any(o.get("status") != "passed" for o in outcomes)
    return ExitCode.DEGRADED if failed else ExitCode.OK


@cli.command(
    epilog=_examples("mailctl history", "mailctl history org/acme --limit 10", codes="0, 1 error.")
)
@click.argument("scope", required=False, shell_complete=scope_completer(configs=False, store=True))
@store_option
@click.option("--limit", default=50, show_default=True, help="Entries to show.")
@format_option("text", "json")
def history(scope: str | None, store: Path, limit: int, fmt: str) -> int:
    """Applied revisions, newest first (optionally of one scope)."""
    from reconciler.operations import history_payload
    from reconciler.reporters.status import render_history

    with _open_store(store, create=False) as st:
        payload = history_payload(st, scope, limit)
    emit(to_json(payload) if fmt == "json" else render_history(payload))
    return ExitCode.OK


@cli.command(
    epilog=_examples(
        "mailctl suspend --reason 'rolling back'",
        "mailctl history",
        "mailctl rollback --to 41",
        codes="0, 1 error (e.g. not suspended, unknown entry).",
    )
)
@store_option
@click.option("--to", "to_id", type=int, required=True, help="History entry id to restore.")
@lock_timeout_option
@format_option("text", "json")
def rollback(store: Path, to_id: int, lock_timeout: float, fmt: str) -> int:
    """Re-apply the store state of a history entry (requires suspend)."""
    from reconciler.operations import rollback as do_rollback
    from reconciler.reconcile import actor

    with _open_store(store, create=False, lock_timeout=lock_timeout) as st:
        hid, scopes = do_rollback(st, to_id, actor())
    if fmt == "json":
        emit(to_json({"history_id": hid, "to": to_id, "scopes": scopes}))
    elif hid is None:
        emit(f"Nothing to roll back: the store already matches #{to_id}.")
    else:
        emit(f"Rolled back to #{to_id}: {plural(len(scopes), 'scope')} changed (history #{hid}).")
    return ExitCode.OK


def _set_suspended(store: Path, reason: str | None, lock_timeout: float, fmt: str) -> int:
    from reconciler.reconcile import actor

    with _open_store(
        store, create=False, lock_timeout=lock_timeout
    ) as st:  # never create a store to suspend it
        st.set_suspended(reason, actor())
        susp = st.suspension()
    if fmt == "json":
        emit(
            to_json(
                {"suspended": susp.suspended, "reason": susp.reason, "at": susp.at, "by": susp.by}
            )
        )
    else:
        from reconciler.reporters.escape import term

        emit(f"Suspended: {term(susp.reason)}" if susp.suspended else "Resumed.")
    return ExitCode.OK


@cli.command(
    epilog=_examples("mailctl suspend --reason 'incident 4711: relay down'", codes="0, 1 error.")
)
@store_option
@click.option("--reason", required=True, help="Why; shown in status.")
@lock_timeout_option
@format_option("text", "json")
def suspend(store: Path, reason: str, lock_timeout: float, fmt: str) -> int:
    """Pause reconciliation (the daemon waits; apply refuses without --ignore-suspend)."""
    return _set_suspended(store, reason, lock_timeout, fmt)


@cli.command()
@store_option
@lock_timeout_option
@format_option("text", "json")
def resume(store: Path, lock_timeout: float, fmt: str) -> int:
    """Resume reconciliation."""
    return _set_suspended(store, None, lock_timeout, fmt)


def _register_extras() -> None:
    from reconciler.sink_cli import sink_command

    cli.add_command(sink_command, "sink")
    from reconciler.daemon.cli import daemon_command

    cli.add_command(daemon_command, "daemon")


_register_extras()
