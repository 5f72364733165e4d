"""Network helpers shared by the rules, the probe, the daemon and the dev sink."""

from __future__ import annotations

import ipaddress

from reconciler.errors import MailctlError


class ListenError(MailctlError):
    stage = "listen"


def parse_listen(text: str, *, example: str = "127.0.0.1:9310") -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` -> (host, port); ``example`` goes in the hint."""
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ListenError(f"--listen {text!r} is not HOST:PORT", hint=f"e.g. {example}")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    """``localhost`` (and ``*.localhost``) or a loopback address literal (``[::1]`` too)."""
    if host.lower() in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
