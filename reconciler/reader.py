"""The hostile-input-safe manifest reader.

Files become ``Document`` values: plain data plus the ``line:column`` of every key and
value. Reading never raises on bad input; it returns diagnostics instead.

Safety rules (DESIGN §1):
- size capped, NUL bytes (binary) and non-UTF-8 rejected, empty and multi-document rejected;
- libyaml composes nodes, but *we* type the scalars: no implicit resolvers run, so YAML 1.1
  surprises (``no``/``on`` booleans, ``22:22`` sexagesimal, ``0755`` octal) cannot happen —
  plain scalars follow the YAML 1.2 JSON schema (``true``/``false``/``null``/decimal
  numbers), everything else stays a string;
- explicit tags other than the core ones are errors (no ``!!python/object``);
- duplicate keys are errors; aliases are counted and capped, and the expanded node count and
  depth are capped, so billion-laughs documents stop early;
- symlinks that leave the configs folder are rejected by the folder scan (``discover``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from reconciler.diagnostics import Diagnostic, Severity
from reconciler.document import MAX_ALIASES as MAX_ALIASES
from reconciler.document import MAX_BYTES as MAX_BYTES
from reconciler.document import MAX_DEPTH as MAX_DEPTH
from reconciler.document import MAX_NODES as MAX_NODES
from reconciler.document import Document as Document
from reconciler.document import Pos as Pos
from reconciler.document import ReadResult as ReadResult
from reconciler.document import read_error as _error
from reconciler.reader_fast import fast_parse

YAML_SUFFIXES = (".yaml", ".yml")


def read_file(path: Path, display: str | None = None) -> ReadResult:
    """Read one manifest file. ``display`` is the name used in diagnostics.

    Opened non-blocking (a FIFO opens at once) and checked on the open descriptor, so what
    is read is what was checked; four system calls per file."""
    name = display if display is not None else str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        try:  # a socket, say, cannot be opened at all: say what it is
            special = not stat.S_ISREG(os.stat(path).st_mode)
        except OSError:
            special = False
        if special:
            return _not_regular(name)
        return _error(name, "file.unreadable", f"cannot read file: {exc.strerror}", "check it")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
            return _not_regular(name)
        size = st.st_size
        if size > MAX_BYTES:
            return _error(
                name,
                "file.too-large",
                f"file is {size} bytes, more than the {MAX_BYTES} allowed",
                "a mail-settings manifest is a few hundred bytes; is this the right file?",
            )
        raw = os.read(fd, MAX_BYTES + 1)
        while len(raw) < size:  # a short read (rare on regular files): read the rest
            more = os.read(fd, MAX_BYTES + 1 - len(raw))
            if not more:
                break
            raw += more
    except OSError as exc:
        return _error(name, "file.unreadable", f"cannot read file: {exc.strerror}", "check it")
    finally:
        os.close(fd)
    return read_bytes(raw, name)


def _not_regular(name: str) -> ReadResult:
    return _error(
        name,
        "file.unreadable",
        "not a regular file",
        "manifests are plain files; remove this entry or rename it",
    )


def read_bytes(raw: bytes, name: str) -> ReadResult:
    if len(raw) > MAX_BYTES:
        return _error(
            name, "file.too-large", f"file is larger than {MAX_BYTES} bytes", "trim the file"
        )
    if b"\x00" in raw:
        return _error(
            name,
            "file.binary",
            "file contains NUL bytes: binary data, not YAML",
            "only UTF-8 text manifests are read",
            _offset_pos(raw, raw.index(b"\x00")),
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _error(
            name,
            "file.encoding",
            f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
            "save the file as UTF-8",
            _offset_pos(raw, exc.start),
        )
    return read_text(text.removeprefix("\ufeff"), name)


def _offset_pos(raw: bytes, offset: int) -> Pos:
    line = raw.count(b"\n", 0, offset) + 1
    return line, offset - (raw.rfind(b"\n", 0, offset) + 1) + 1


def read_text(text: str, name: str) -> ReadResult:
    fast = fast_parse(text)
    if fast is not None:
        return ReadResult(Document(name, *fast), ())
    return read_text_full(text, name)


def read_text_full(text: str, name: str) -> ReadResult:
    """The full reader (libyaml), for every text: the fast path's reference. Imported on
    first use, so that validating plain manifests never loads PyYAML."""
    from reconciler.reader_yaml import read_yaml

    return read_yaml(text, name)


def discover(paths: list[Path]) -> Iterator[tuple[Path, str, Diagnostic | None]]:
    """Yield ``(path, display_name, problem)`` for every manifest below ``paths``.

    Folders are walked recursively for ``*.yaml``/``*.yml`` (hidden entries skipped). A symlink
    whose target leaves the folder being walked is reported, not read.
    """
    for given in paths:
        if given.is_dir():
            root = given.resolve()
            for name in discover_names(given):
                full = Path(name)
                yield full, str(full), _escape_check(full, root)
        else:
            yield given, str(given), None


def discover_names(folder: Path) -> Iterator[str]:
    """The manifests below ``folder`` (the walk of :func:`discover`), as names only: no
    per-file ``Path`` or symlink check (a daemon's refresh of a 100,000-file folder)."""
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fname in sorted(filenames):
            if not fname.startswith(".") and fname.endswith(YAML_SUFFIXES):
                yield os.path.join(dirpath, fname)


def _escape_check(full: Path, root: Path) -> Diagnostic | None:
    if not full.is_symlink():
        return None
    target = full.resolve()
    if target.is_relative_to(root):
        return None
    return Diagnostic(
        str(full),
        1,
        1,
        "$",
        "file.symlink-escape",
        Severity.ERROR,
        f"symlink points outside the configs folder (to {target})",
        "copy the manifest into the folder instead of linking to it",
    )
