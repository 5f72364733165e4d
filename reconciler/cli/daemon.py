"""``mailctl daemon``: the options; the wiring is ``reconciler.daemon.run``."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.options import (
    ca_option,
    configs_option,
    duration,
    durations,
    ehlo_option,
    history_keep_option,
    log_option,
    platform_option,
    probe_policy_option,
    revision_option,
    secrets_options,
    store_option,
)


@click.command(
    "daemon",
    epilog="""\b
Examples:
  mailctl daemon --configs /srv/mailctl/configs --store /var/lib/mailctl/mailctl.db
  mailctl daemon --interval 5m --listen 127.0.0.1:9310 --probe gate

HTTP: /healthz, /readyz, /status, /metrics, /v1/ (read API), /ui (status page).
SIGHUP resyncs now; SIGTERM stops (exit 0).
Deployment under systemd: docs/deployment.md; several servers sharing a PostgreSQL
store (one leads, the others stand by): docs/postgresql.md.""",
)
@configs_option
@store_option
@ca_option
@ehlo_option
@platform_option
@secrets_options
@click.option(
    "--interval",
    callback=duration,
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
    help="Address of the HTTP endpoints; off loopback they need --api-token-file.",
)
@click.option(
    "--probe-interval",
    envvar="MAILCTL_PROBE_INTERVAL",
    callback=duration,
    default="6h",
    show_default=True,
    help="Re-probe a healthy configuration every DURATION (resyncs probe only what is due).",
)
@click.option(
    "--probe-backoff",
    envvar="MAILCTL_PROBE_BACKOFF",
    callback=durations,
    default="1m,5m,15m,1h",
    show_default=True,
    metavar="D1,D2,...",
    help="Re-probe a failed configuration after D1, then D2, ...; the last step repeats.",
)
@click.option(
    "--api-token-file",
    envvar="MAILCTL_API_TOKEN_FILE",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    metavar="FILE",
    help="Bearer token of the HTTP API (required when --listen is not loopback).",
)
@click.option(
    "--lease-interval",
    envvar="MAILCTL_LEASE_INTERVAL",
    callback=duration,
    default="5s",
    show_default=True,
    help="Shared (postgresql://) store: renew the leader lease every DURATION.",
)
@click.option(
    "--lease-duration",
    envvar="MAILCTL_LEASE_DURATION",
    callback=duration,
    default="15s",
    show_default=True,
    help="Shared store: a lease not renewed for DURATION expires; a standby takes over.",
)
@probe_policy_option
@revision_option
@history_keep_option
@log_option
def daemon(
    configs: Path,
    store: Path | str,
    ca_file: Path | None,
    platform_defaults: Path | None,
    interval: float,
    debounce_ms: int,
    listen: str,
    probe_interval: float,
    probe_backoff: tuple[float, ...],
    api_token_file: Path | None,
    lease_interval: float,
    lease_duration: float,
    policy: str,
    revision: str | None,
    history_keep: int,
    log_format: str | None,
) -> int:
    """Watch the configs folder, reconcile changes, resync on an interval, serve health."""
    from reconciler.daemon.run import DaemonSettings, run_daemon

    return run_daemon(
        DaemonSettings(
            configs=configs,
            store=store,
            ca_file=ca_file,
            platform_defaults=platform_defaults,
            interval=interval,
            debounce_ms=debounce_ms,
            listen=listen,
            probe_interval=probe_interval,
            probe_backoff=probe_backoff,
            api_token_file=api_token_file,
            policy=policy,
            revision=revision,
            history_keep=history_keep,
            log_format=log_format,
            lease_interval=lease_interval,
            lease_duration=lease_duration,
        )
    )
