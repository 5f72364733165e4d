"""``mailctl sink``: the click command over ``reconciler.devtools.sink`` (also
``python -m reconciler.devtools.sink_cli``). The sink (aiosmtpd) is imported when the
command runs, not when ``mailctl`` starts."""

from __future__ import annotations

import sys

import click

from reconciler.devtools import DEFAULT_CA_OUT, DEFAULT_LISTEN, DEFAULT_MAILDIR


@click.command(
    "sink",
    epilog="""\b
Examples:
  mailctl sink                                  plain SMTP on 127.0.0.1:2525
  mailctl sink --tls starttls --user demo:DEMO_SMTP_PASSWORD --require-auth

Received messages land in --maildir. Runs until SIGTERM/SIGINT (exit 0).""",
)
@click.option(
    "--listen", default=DEFAULT_LISTEN, show_default=True, metavar="HOST:PORT", help="Address."
)
@click.option(
    "--tls",
    type=click.Choice(["none", "starttls", "implicit"]),
    default="none",
    show_default=True,
    help="TLS mode offered to clients.",
)
@click.option("--cert", type=click.Path(dir_okay=False), help="Server certificate (PEM).")
@click.option("--key", type=click.Path(dir_okay=False), help="Server private key (PEM).")
@click.option(
    "--ca-out",
    type=click.Path(dir_okay=False),
    default=DEFAULT_CA_OUT,
    show_default=True,
    help="Where the generated CA certificate goes (TLS without --cert); use it as --ca-file.",
)
@click.option(
    "--user",
    "users",
    multiple=True,
    metavar="NAME:ENVVAR",
    help="Accept AUTH for NAME with the password from $ENVVAR (repeatable).",
)
@click.option("--require-auth", is_flag=True, help="Refuse MAIL FROM before AUTH.")
@click.option(
    "--maildir",
    type=click.Path(file_okay=False),
    default=DEFAULT_MAILDIR,
    show_default=True,
    help="Maildir that stores received messages.",
)
def sink_command(
    listen: str,
    tls: str,
    cert: str | None,
    key: str | None,
    ca_out: str,
    users: tuple[str, ...],
    require_auth: bool,
    maildir: str,
) -> None:
    """Local SMTP sink for development and tests; runs until SIGTERM/SIGINT."""
    from reconciler.devtools.sink import SinkConfig, SinkError, SinkTls, parse_user, run_sink
    from reconciler.net import ListenError, parse_listen

    mode: SinkTls = "implicit" if tls == "implicit" else "starttls" if tls == "starttls" else "none"
    try:
        host, port = parse_listen(listen, example=DEFAULT_LISTEN)
        config = SinkConfig(
            host=host,
            port=port,
            tls=mode,
            cert_file=cert,
            key_file=key,
            ca_out=ca_out,
            users=tuple(parse_user(u) for u in users),
            require_auth=require_auth,
            maildir=maildir,
        )
        code = run_sink(config)
    except (SinkError, ListenError) as exc:
        message = f"{exc.message} (hint: {exc.hint})" if exc.hint else exc.message
        raise click.ClickException(message) from exc
    sys.exit(code)


if __name__ == "__main__":
    sink_command()
