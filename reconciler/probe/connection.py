"""The connection side of a probe: name resolution, the TCP connect, the TLS context
and the EHLO name. The SMTP conversation on top of it is :mod:`reconciler.probe.engine`.

- :func:`resolve` is the ``dns`` stage (``loop.getaddrinfo``; an IP literal skips it) and
  :func:`connect` the ``connect`` stage (each address in turn, one deadline for all), so
  certificates are verified against ``smtp.host`` and not the resolved address.
- :func:`tls_context`: the system trust store plus ``--ca-file``, TLS 1.2 minimum, one
  context per CA file (path, mtime, size) for the process: building a context loads the
  whole trust store, far more CPU than a probe's handshake needs.
- :func:`ehlo_name_for`: ``probe.ehloName``, else an override, else ``--ehlo-name``, else
  this machine's FQDN; ``None`` means the address literal of the local end
  (:func:`address_literal`, RFC 5321 §4.1.4).
"""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import os
import socket
import ssl
import time
from typing import Any

from reconciler.model import Effective
from reconciler.net import is_loopback
from reconciler.probe import classify as C
from reconciler.probe.classes import FailureClass as F


class TimedSSLObject(ssl.SSLObject):
    """Records when the TLS handshake completed, to split ``tls`` from ``banner``."""

    mailctl_handshake_done: float | None = None

    def do_handshake(self) -> None:
        super().do_handshake()
        self.mailctl_handshake_done = time.perf_counter()


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """System trust store plus ``ca_file``; hostname checking on; TLS 1.2 minimum.

    Cached per (path, mtime, size), so a rewritten CA file is picked up."""
    if not ca_file:
        return _tls_context(None, 0, 0)
    st = os.stat(ca_file)
    return _tls_context(ca_file, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=16)
def _tls_context(ca_file: str | None, mtime_ns: int, size: int) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file:
        ctx.load_verify_locations(cafile=ca_file)
    ctx.sslobject_class = TimedSSLObject
    return ctx


def _valid_ehlo(name: str) -> bool:
    return bool(name) and all(33 <= ord(ch) < 127 for ch in name)


@functools.lru_cache(maxsize=1)
def default_ehlo_name() -> str | None:
    """This machine's fully-qualified name, or None when it has no dotted name."""
    for name in (socket.getfqdn(), socket.gethostname()):
        name = name.strip().rstrip(".")
        if "." in name and _valid_ehlo(name) and not name.startswith("localhost"):
            return name
    return None


_process_ehlo_name: str | None = None


def set_default_ehlo_name(name: str | None) -> None:
    """The process-wide EHLO name (``--ehlo-name``) for scopes without ``probe.ehloName``."""
    global _process_ehlo_name
    if name is not None and not _valid_ehlo(name):
        raise ValueError(f"invalid EHLO name {name!r}")
    _process_ehlo_name = name


def ehlo_name_for(settings: Effective, override: str | None = None) -> str | None:
    """The configured EHLO name: ``probe.ehloName``, else ``override``, else
    ``--ehlo-name``, else this machine's FQDN; None means "use the address literal"."""
    return settings.ehlo_name or override or _process_ehlo_name or default_ehlo_name()


def address_literal(sock: socket.socket) -> str:
    address = str(sock.getsockname()[0]).split("%", 1)[0]
    return f"[IPv6:{address}]" if ":" in address else f"[{address}]"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def credentials_allowed(*, encrypted: bool, peer: str) -> bool:
    """Credentials go only over TLS, or in clear to a loopback address."""
    return encrypted or is_loopback(peer.split("%", 1)[0])


async def resolve(host: str, port: int, timeout: float) -> list[tuple[Any, ...]]:
    """The ``dns`` stage: the addresses of ``host`` (an IP literal needs no lookup)."""
    if _is_ip(host):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port))]
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
        )
    except TimeoutError:
        raise C.Failure(F.DNS, f"resolving {host} timed out") from None
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise C.Failure(F.DNS, f"cannot resolve {host}: {exc}") from None
    if not infos:
        raise C.Failure(F.DNS, f"{host} has no address")
    return [tuple(info) for info in infos]


async def connect(infos: list[tuple[Any, ...]], timeout: float) -> socket.socket:
    """The ``connect`` stage: each address in turn until one accepts, within ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + timeout
    last: C.Failure | None = None
    for family, kind, proto, _canon, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            await asyncio.wait_for(loop.sock_connect(sock, address), left)
        except TimeoutError:
            sock.close()
            last = C.Failure(F.CONNECT_TIMEOUT, f"TCP connect to {address[0]} timed out")
            break
        except OSError as exc:
            sock.close()
            cls = F.CONNECT_REFUSED
            if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
                cls = F.CONNECT_UNREACHABLE
            last = C.Failure(cls, f"TCP connect to {address[0]}: {exc.strerror or exc}")
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    assert last is not None
    raise last
