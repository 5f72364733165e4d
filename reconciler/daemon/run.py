"""Run the daemon: open the store, wire the engine, the loop, the probes and the HTTP
server together, and block until SIGTERM. ``mailctl daemon`` (``reconciler.cli.daemon``)
parses the options into :class:`DaemonSettings` and calls :func:`run_daemon`; a new daemon
option is a field here plus its click option there."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from reconciler.commit import DEFAULT_HISTORY_KEEP
from reconciler.errors import ConfigError, ExitCode, UsageError


@dataclass(frozen=True, slots=True)
class DaemonSettings:
    configs: Path
    store: Path | str  # a path (SQLite) or a postgresql:// URL
    ca_file: Path | None
    platform_defaults: Path | None
    interval: float  # seconds between full resyncs
    debounce_ms: int
    listen: str  # HOST:PORT of /healthz /readyz /status /metrics /v1 /ui
    probe_interval: float
    probe_backoff: tuple[float, ...]
    policy: str  # after | gate | off
    revision: str | None
    log_format: str | None
    api_token_file: Path | None = None  # required when listen is not loopback
    lease_interval: float = 5.0  # shared store: renew the leader lease this often
    lease_duration: float = 15.0  # ... and a lease not renewed this long expires
    history_keep: int = DEFAULT_HISTORY_KEEP


def _check(settings: DaemonSettings) -> None:
    if settings.interval < 1:
        raise UsageError("--interval must be at least 1s", hint="e.g. --interval 10m")
    if settings.probe_interval < 1:
        raise UsageError("--probe-interval must be at least 1s", hint="e.g. --probe-interval 6h")
    if not settings.configs.is_dir():
        raise ConfigError(
            f"configs folder {settings.configs} does not exist or is not a folder",
            hint="pass --configs DIR or set MAILCTL_CONFIGS",
        )
    if settings.ca_file is not None and not settings.ca_file.is_file():
        raise ConfigError(f"--ca-file {settings.ca_file} does not exist", hint="pass a PEM file")
    if not 0 < settings.lease_interval < settings.lease_duration:
        raise UsageError(
            "--lease-interval must be shorter than --lease-duration",
            hint="e.g. --lease-interval 5s --lease-duration 15s",
        )


STANDBY = "Target syncs stepped aside: another daemon leads and syncs (retries dropped)"


def run_daemon(settings: DaemonSettings) -> int:
    """Watch the configs folder, reconcile changes, resync on an interval, serve health;
    returns the exit code once stopped."""
    from reconciler.logs import REDACTOR, configure_logging, get_logger
    from reconciler.net import parse_listen
    from reconciler.probing import ProbeOptions, record_outcome
    from reconciler.resolve import load_platform_defaults
    from reconciler.targets.runner import TargetRunner

    from .api import ReadApi
    from .apitoken import api_token
    from .loop import Daemon, LoopOptions
    from .metrics import DaemonMetrics
    from .probes import ProbeRunner, ProbeSchedule
    from .runs import Engine
    from .stores import open_daemon_stores
    from .worker import Worker

    _check(settings)
    ca_file, policy, store = settings.ca_file, settings.policy, settings.store
    host, port = parse_listen(settings.listen)
    token = api_token(host, settings.api_token_file)  # before anything is opened
    platform = load_platform_defaults(settings.platform_defaults)
    configure_logging(settings.log_format)
    log = get_logger("mailctl.daemon")
    metrics = DaemonMetrics()
    stores = open_daemon_stores(
        store, lease_duration_s=settings.lease_duration, info={"listen": f"{host}:{port}"}
    )
    try:
        probe_options = ProbeOptions(ca_file=str(ca_file) if ca_file else None)
        engine = Engine(
            stores.db,
            settings.configs,
            platform=platform,
            policy=policy,  # type: ignore[arg-type]
            probe_options=probe_options,
            metrics=metrics,
            redact=REDACTOR,
            log=log,
            revision=settings.revision,
            history_keep=settings.history_keep,
        )
        worker = Worker()
        writer = Worker("mailctl-probe-results")
        options = LoopOptions(settings.interval, settings.debounce_ms / 1000, host, port)
        daemon = Daemon(
            engine,
            stores.reader,
            metrics,
            options,
            log,
            worker.call,
            store_checks=stores.checks,
        )
        # SQLite: the daemon's lock makes it the leader; a shared store: the lease does.
        leadership = stores.leadership(
            interval_s=settings.lease_interval,
            duration_s=settings.lease_duration,
            log=log,
            metrics=metrics,
            on_change=daemon.on_leadership,
        )
        if leadership is not None:
            daemon.leadership = leadership
        daemon.attach_api(ReadApi(stores.api, last_run=lambda: daemon.last_run), token)
        if policy != "off":
            prober = stores.prober
            daemon.probes = ProbeRunner(
                options=probe_options,
                schedule=ProbeSchedule(settings.probe_interval, settings.probe_backoff),
                write=lambda outcome, tokens: writer.call(
                    lambda: record_outcome(prober, outcome, tokens)
                ),
                on_result=daemon.observe.probe_result,
                log=log,
            )
        # Targets sync on a thread of their own, writing their state through the probe
        # writer's connection (fenced on a shared store: a standby never writes).
        runner = TargetRunner(
            stores.prober,
            ca_file=str(ca_file) if ca_file else None,
            redactor=REDACTOR,
            on_report=daemon.observe.targets_synced,
            on_error=daemon.observe.targets_failed,
            leading=lambda: daemon.leadership.leading,  # a standby never syncs (§13)
            on_standby=lambda why: log.info("target.standby", reason=why, message=STANDBY),
            check_lease=leadership is not None,
        )
        daemon.targets = runner
        runner.start()
        try:
            code = asyncio.run(daemon.run())
        finally:
            runner.stop()
        worker.close()
        writer.close(wait_s=2.0)
    finally:
        stores.close()
    return code or ExitCode.OK
