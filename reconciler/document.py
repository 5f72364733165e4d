"""What the reader produces: a ``Document`` (plain data plus the position of every value and
key), a ``ReadResult``, and the limits every parser honours. Its own module, so the
parsers (``reader_fast``, ``reader_yaml``) and the reader that picks one do not import
each other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.diagnostics import Diagnostic, PathT, Severity, json_path

MAX_BYTES = 256 * 1024
MAX_ALIASES = 64
MAX_NODES = 20_000
MAX_DEPTH = 32

Pos = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed manifest with the 1-based position of every value and key."""

    file: str
    data: Any
    positions: dict[PathT, Pos]
    key_positions: dict[PathT, Pos]

    def pos(self, path: PathT) -> Pos:
        """Position of the value at ``path`` or of its nearest existing ancestor."""
        while path:
            found = self.positions.get(path)
            if found is not None:
                return found
            path = path[:-1]
        return self.positions.get((), (1, 1))

    def key_pos(self, path: PathT) -> Pos:
        """Position of the *key* naming ``path`` (falls back to the value)."""
        return self.key_positions.get(path) or self.pos(path)


@dataclass(frozen=True, slots=True)
class ReadResult:
    document: Document | None
    diagnostics: tuple[Diagnostic, ...]


def read_error(
    file: str, rule: str, message: str, hint: str, pos: Pos = (1, 1), path: PathT = ()
) -> ReadResult:
    diag = Diagnostic(file, pos[0], pos[1], json_path(path), rule, Severity.ERROR, message, hint)
    return ReadResult(None, (diag,))
