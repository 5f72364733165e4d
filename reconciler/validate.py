"""Validation of files and folders: reader → schema → semantic rules → set-wide rules.

``validate_paths`` is the one core function behind ``mailctl validate``, ``plan``,
``apply`` and the daemon. It returns every diagnostic plus the manifests that are usable,
and says which files (and, where readable, which scopes) are broken, so that a reconcile
can hold exactly those scopes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.diagnostics import CheckResult, Diagnostic
from reconciler.model import Manifest
from reconciler.reader import Document, ReadResult, discover, read_file
from reconciler.rules import document_diagnostics, identity, set_diagnostics
from reconciler.schemas import schema_diagnostics


@dataclass(frozen=True, slots=True)
class FileCheck:
    """The outcome for one file: its document (if readable), diagnostics, manifest."""

    file: str
    document: Document | None
    diagnostics: tuple[Diagnostic, ...]
    manifest: Manifest | None

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    @property
    def scope(self) -> str | None:
        return identity(self.document) if self.document is not None else None


@dataclass(slots=True)
class ValidationRun:
    result: CheckResult
    checks: list[FileCheck] = field(default_factory=list)
    set_errors: list[Diagnostic] = field(default_factory=list)

    @property
    def manifests(self) -> list[Manifest]:
        """Manifests of files without errors (warnings allowed)."""
        return [c.manifest for c in self.checks if c.manifest is not None and c.ok]

    @property
    def broken(self) -> list[FileCheck]:
        return [c for c in self.checks if not c.ok]


def check_file(path: Path, display: str, pre: Diagnostic | None = None) -> FileCheck:
    """Read and validate one file on its own (no set-wide rules)."""
    if pre is not None:
        return FileCheck(display, None, (pre,), None)
    read: ReadResult = read_file(path, display)
    doc = read.document
    if doc is None:
        return FileCheck(display, None, read.diagnostics, None)
    diags = schema_diagnostics(doc)
    if not diags:
        diags = document_diagnostics(doc)
    manifest = None
    if not any(d.is_error for d in diags):
        manifest = Manifest.from_document(doc.data, display)
    return FileCheck(display, doc, tuple(diags), manifest)


def combine(checks: Iterable[FileCheck], *, require_host: bool) -> ValidationRun:
    """Apply the set-wide rules to already-checked files."""
    run = ValidationRun(CheckResult())
    run.checks = list(checks)
    for check in run.checks:
        run.result.files.append(check.file)
        run.result.extend(check.diagnostics)
    docs = [c.document for c in run.checks if c.document is not None]
    run.set_errors = set_diagnostics(docs, require_host=require_host)
    run.result.extend(run.set_errors)
    return run


def validate_paths(paths: list[Path], *, require_host: bool | None = None) -> ValidationRun:
    """Validate files and folders. Set-wide host rules apply when a folder is given."""
    if require_host is None:
        require_host = any(p.is_dir() for p in paths)
    checks = [check_file(p, name, pre) for p, name, pre in discover(paths)]
    return combine(checks, require_host=require_host)
