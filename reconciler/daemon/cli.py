"""``mailctl daemon``: the click command (registered in ``reconciler.commands``)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import click

from reconciler.cli import (
    ca_option,
    configs_option,
    ehlo_option,
    log_option,
    platform_option,
    probe_policy_option,
    revision_option,
    secrets_options,
    store_option,
)
from reconciler.errors import ConfigError, ExitCode, UsageError

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


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        return parse_duration(value)
    except UsageError as exc:
        raise click.BadParameter(exc.message, ctx, param) from exc


def _durations(ctx: click.Context, param: click.Parameter, value: str) -> tuple[float, ...]:
    try:
        steps = tuple(parse_duration(part) for part in value.split(","))
    except UsageError as exc:
        raise click.BadParameter(exc.message, ctx, param) from exc
    if not steps or min(steps) <= 0:
        raise click.BadParameter("every step must be a positive duration", ctx, param)
    return steps


@click.command(
    "daemon",
    epilog="""\b
Examples:
  mailctl daemon --configs /srv/mailctl/configs --store /var/lib/mailctl/mailctl.db
  mailctl daemon --interval 5m --listen 127.0.0.1:9310 --probe gate

HTTP: /healthz, /readyz, /status, /metrics. SIGHUP resyncs now; SIGTERM stops (exit 0).
Deployment under systemd: docs/deployment.md.""",
)
@configs_option
@store_option
@ca_option
@ehlo_option
@platform_option
@secrets_options
@click.option(
    "--interval",
    callback=_duration,
    default="10m",
    show_default=True,
    help="Full resync (drift correction, re-probe) every DURATION.",
)
@click.option(
    "--debounce-ms",
    type=click.IntRange(0, 60_000),
    default=300,
    show_default=True,
    help="Quiet time before a batch of file changes is applied.",
)
@click.option(
    "--listen",
    default="127.0.0.1:9310",
    show_default=True,
    metavar="HOST:PORT",
    help="Address of /healthz /readyz /status /metrics.",
)
@click.option(
    "--probe-interval",
    envvar="MAILCTL_PROBE_INTERVAL",
    callback=_duration,
    default="6h",
    show_default=True,
    help="Re-probe a healthy configuration every DURATION (resyncs probe only what is due).",
)
@click.option(
    "--probe-backoff",
    envvar="MAILCTL_PROBE_BACKOFF",
    callback=_durations,
    default="1m,5m,15m,1h",
    show_default=True,
    metavar="D1,D2,...",
    help="Re-probe a failed configuration after D1, then D2, ...; the last step repeats.",
)
@probe_policy_option
@revision_option
@log_option
def daemon_command(
    configs: Path,
    store: Path,
    ca_file: Path | None,
    platform_defaults: Path | None,
    interval: float,
    debounce_ms: int,
    listen: str,
    probe_interval: float,
    probe_backoff: tuple[float, ...],
    policy: str,
    revision: str | None,
    log_format: str | None,
) -> int:
    """Watch the configs folder, reconcile changes, resync on an interval, serve health."""
    from reconciler.logs import REDACTOR, configure_logging, get_logger
    from reconciler.probing import ProbeOptions, record_outcome
    from reconciler.resolve import load_platform_defaults
    from reconciler.store import open_store
    from reconciler.store.lock import DaemonLock

    from .engine import Engine
    from .http import parse_listen
    from .loop import Daemon, LoopOptions
    from .metrics import DaemonMetrics
    from .probes import ProbeRunner, ProbeSchedule
    from .worker import Worker

    if interval < 1:
        raise UsageError("--interval must be at least 1s", hint="e.g. --interval 10m")
    if probe_interval < 1:
        raise UsageError("--probe-interval must be at least 1s", hint="e.g. --probe-interval 6h")
    if not configs.is_dir():
        raise ConfigError(
            f"configs folder {configs} does not exist or is not a folder",
            hint="pass --configs DIR or set MAILCTL_CONFIGS",
        )
    if ca_file is not None and not ca_file.is_file():
        raise ConfigError(f"--ca-file {ca_file} does not exist", hint="pass a PEM file")
    host, port = parse_listen(listen)
    platform = load_platform_defaults(platform_defaults)
    configure_logging(log_format)
    log = get_logger("mailctl.daemon")
    metrics = DaemonMetrics()
    lock = DaemonLock.acquire(store)  # one daemon per store; released when we exit
    try:
        db = open_store(store)
    except BaseException:
        lock.release()
        raise
    try:
        reader = open_store(store, create=False)
        prober = open_store(store, create=False)  # probe results: their own connection
        try:
            probe_options = ProbeOptions(ca_file=str(ca_file) if ca_file else None)
            engine = Engine(
                db,
                configs,
                platform=platform,
                policy=policy,  # type: ignore[arg-type]
                probe_options=probe_options,
                metrics=metrics,
                redact=REDACTOR,
                log=log,
                revision=revision,
            )
            worker = Worker()
            writer = Worker("mailctl-probe-results")
            options = LoopOptions(interval, debounce_ms / 1000, host, port)
            daemon = Daemon(
                engine,
                reader,
                metrics,
                options,
                log,
                worker.call,
                lambda: worker.started_at,
                store_checks=(lock.lost,),
            )
            if policy != "off":
                daemon.probes = ProbeRunner(
                    options=probe_options,
                    schedule=ProbeSchedule(probe_interval, probe_backoff),
                    write=lambda outcome, tokens: writer.call(
                        lambda: record_outcome(prober, outcome, tokens)
                    ),
                    on_result=daemon.probe_result,
                    log=log,
                )
            code = asyncio.run(daemon.run())
            worker.close()
            writer.close(wait_s=2.0)
        finally:
            prober.close()
            reader.close()
    finally:
        db.close()
        lock.release()
    return code or ExitCode.OK
