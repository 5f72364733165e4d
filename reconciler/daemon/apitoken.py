"""``--api-token-file``: the bearer token of the daemon's HTTP API off loopback (DESIGN §12).

A daemon whose ``--listen`` is not a loopback address refuses to start without a token:
its ``/status``, ``/metrics``, read API and status page would otherwise be open to the
network. The file is read like a ``file:`` secret (regular file, non-blocking open, capped,
UTF-8, one trailing newline stripped) and the token joins the process redactor, so it can
never be echoed in a log line or a response.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from reconciler.errors import ConfigError, UsageError
from reconciler.net import is_loopback
from reconciler.redact import REDACTOR

MAX_TOKEN_BYTES = 4096
MIN_TOKEN_CHARS = 16
_HINT = "write a random token into it, e.g. `openssl rand -hex 32 > /etc/mailctl/api-token`"


def read_token(path: Path) -> str:
    """The token in ``path``; ``ConfigError`` with one line when it cannot be used."""
    where = f"--api-token-file {path}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError(f"{where}: {exc.strerror or exc}", hint=_HINT) from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(f"{where} is not a regular file", hint=_HINT)
        data = os.read(fd, MAX_TOKEN_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{where}: {exc.strerror or exc}", hint=_HINT) from exc
    finally:
        os.close(fd)
    if len(data) > MAX_TOKEN_BYTES:
        raise ConfigError(f"{where} is larger than {MAX_TOKEN_BYTES} bytes", hint=_HINT)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where} is not UTF-8 text", hint=_HINT) from exc
    token = text.removesuffix("\n").removesuffix("\r")
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() or not c.isprintable() for c in token):
        raise ConfigError(
            f"{where}: the token must be at least {MIN_TOKEN_CHARS} printable characters "
            "without spaces",
            hint=_HINT,
        )
    return token


def api_token(listen_host: str, path: Path | None) -> str | None:
    """The token the HTTP API requires, or ``None`` (loopback without a token file).

    Off loopback a token file is mandatory; on loopback a given one is honoured too."""
    if path is None:
        if is_loopback(listen_host):
            return None
        raise UsageError(
            f"--listen {listen_host} is not a loopback address: the HTTP API needs "
            "--api-token-file there",
            hint="pass --api-token-file FILE (clients send 'Authorization: Bearer TOKEN'), "
            "or listen on 127.0.0.1",
        )
    token = read_token(path)
    REDACTOR.add([token])
    return token
