"""Validation findings as data: every problem is recorded, none raised.

Modelled on check-jsonschema's ``CheckResult``: readers and rules append ``Diagnostic``
values; reporters render them; nothing stops at the first problem.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

PathT = tuple[str | int, ...]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


def json_path(path: Sequence[str | int]) -> str:
    """``("spec", "smtp", "port")`` -> ``$.spec.smtp.port``; list indexes as ``[0]``."""
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


@dataclass(frozen=True, slots=True)
class Diagnostic:
    file: str
    line: int
    column: int
    path: str
    rule: str
    severity: Severity
    message: str
    hint: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "rule": self.rule,
            "severity": self.severity.value,
            "message": self.message,
            "hint": self.hint,
        }

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


def sort_key(d: Diagnostic) -> tuple[str, int, int, str]:
    return (d.file, d.line, d.column, d.rule)


@dataclass(slots=True)
class CheckResult:
    """All diagnostics of one validation run, plus the files that were looked at."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # not mailctl manifests (--skip-foreign)

    def extend(self, diags: Iterable[Diagnostic]) -> None:
        self.diagnostics.extend(diags)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.is_error]

    def valid(self, *, strict: bool = False) -> bool:
        return not self.diagnostics if strict else not self.errors

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.diagnostics, key=sort_key)


@dataclass(frozen=True, slots=True)
class Rule:
    """A semantic rule over a manifest's ``spec``: ``check`` yields ``(path, message,
    hint)`` per violation; ``reconciler.rules`` and ``reconciler.targets.rules`` hold them."""

    id: str
    severity: Severity
    check: Callable[[dict[str, Any]], Iterator[tuple[PathT, str, str]]]
