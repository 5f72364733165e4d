"""Reading one secret, bounded: a regular file or an environment variable (DESIGN §8).

The roots and tenant-scoping checks come first and are :mod:`reconciler.secrets`' (it
decides *whether* a reference may be read); this module only reads, and never blocks or
over-reads: a file is ``lstat``-ed, opened ``O_NONBLOCK|O_NOFOLLOW``, checked again with
``fstat`` and read to at most 64 KiB + 1 byte, so a FIFO, a device, ``/dev/zero`` or a
generated ``/proc`` file fails at once. Values must be non-empty UTF-8.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping

from reconciler.errors import SecretError

MAX_SECRET_BYTES = 64 * 1024
_OPEN_FLAGS = (
    os.O_RDONLY
    | os.O_NONBLOCK
    | os.O_NOCTTY
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOFOLLOW", 0)
)


def _kind(mode: int) -> str | None:
    """What a non-regular file is, or ``None`` for a regular file."""
    if stat.S_ISREG(mode):
        return None
    for test, name in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _refuse(file: str, mode: int, size: int) -> None:
    kind = _kind(mode)
    if kind is not None:
        raise SecretError(
            f"secret file {file} is {kind}, not a regular file",
            hint="point the reference at a regular file holding the password",
        )
    if size > MAX_SECRET_BYTES:
        raise SecretError(
            f"secret file {file} is larger than {MAX_SECRET_BYTES // 1024} KiB",
            hint="the file should hold one password",
        )


def _read_bounded(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total < limit:
        chunk = os.read(fd, limit - total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _strip_one_newline(text: str) -> str:
    for ending in ("\r\n", "\n", "\r"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


def read_secret_file(file: str, real: str) -> str:
    """The value of ``{file: file}`` found at ``real`` (see ``locate``; the roots checks
    are the caller's): a regular file, bounded, UTF-8. Never blocks (FIFOs, devices),
    never reads more than 64 KiB + 1 byte."""
    try:
        _refuse(file, *_mode_size(os.lstat(real)))
        fd = os.open(real, _OPEN_FLAGS)
    except OSError as exc:
        raise SecretError(
            f"secret file {file} cannot be read: {exc.strerror}",
            hint="check the path and that mailctl's user may read it",
        ) from exc
    try:
        st = os.fstat(fd)
        _refuse(file, st.st_mode, st.st_size)
        data = _read_bounded(fd, MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise SecretError(
            f"secret file {file} cannot be read: {exc.strerror}",
            hint="check the path and that mailctl's user may read it",
        ) from exc
    finally:
        os.close(fd)
    if len(data) > MAX_SECRET_BYTES:
        raise SecretError(
            f"secret file {file} is larger than {MAX_SECRET_BYTES // 1024} KiB",
            hint="the file should hold one password",
        )
    if st.st_size == 0 and data:
        raise SecretError(
            f"secret file {file} is a generated (pseudo) file, not a regular file",
            hint="point the reference at a regular file holding the password",
        )
    try:
        value = _strip_one_newline(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SecretError(
            f"secret file {file} is not UTF-8 text", hint="store the password as UTF-8 text"
        ) from exc
    if not value:
        raise SecretError(f"secret file {file} is empty", hint="write the password into it")
    return value


def _mode_size(st: os.stat_result) -> tuple[int, int]:
    return st.st_mode, st.st_size


def read_secret_env(name: str, environ: Mapping[str, str]) -> str:
    value = environ.get(name)
    if value is None or value == "":
        raise SecretError(
            f"environment variable {name} is not set",
            hint=f"export {name} in the environment of mailctl (or its service unit)",
        )
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:  # surrogate-escaped bytes that are not UTF-8
        raise SecretError(
            f"environment variable {name} is not valid UTF-8",
            hint=f"set {name} to the password as UTF-8 text",
        ) from exc
    if size > MAX_SECRET_BYTES:
        raise SecretError(
            f"environment variable {name} is larger than {MAX_SECRET_BYTES // 1024} KiB",
            hint="it should hold one password",
        )
    return value
