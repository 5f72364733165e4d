"""Validation of files and folders: reader → schema → semantic rules → set-wide rules.

``validate_paths`` is the one core function behind ``mailctl validate``, ``plan``,
``apply`` and the daemon. It returns every diagnostic plus the manifests that are usable,
and says which files (and, where readable, which scopes) are broken, so that a reconcile
can hold exactly those scopes.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.diagnostics import CheckResult, Diagnostic
from reconciler.model import TARGET_KINDS, Manifest
from reconciler.progress import Progress
from reconciler.reader import MAX_BYTES, ReadResult, discover, read_file
from reconciler.rules import (
    Identity,
    document_diagnostics,
    identity,
    secret_set_diagnostics,
    set_diagnostics,
)
from reconciler.schemas import schema_diagnostics
from reconciler.targets.manifest import TargetManifest


@dataclass(frozen=True, slots=True)
class FileCheck:
    """The outcome for one file: its document (if readable), diagnostics, manifest."""

    file: str
    ident: Identity | None  # the scope it defines, when readable
    diagnostics: tuple[Diagnostic, ...]
    manifest: Manifest | None
    target: TargetManifest | None = None  # an OrchestratorTarget / WebhookTarget

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    @property
    def scope(self) -> str | None:
        return self.ident.scope if self.ident is not None else None


@dataclass(slots=True)
class ValidationRun:
    result: CheckResult
    checks: list[FileCheck] = field(default_factory=list)
    set_errors: list[Diagnostic] = field(default_factory=list)
    # Kept up to date by a caller that re-checks files one by one (the daemon's cache), so
    # that a run over 100,000 files answers these without a pass over every check.
    broken_checks: list[FileCheck] | None = None
    scope_manifests: Mapping[str, Manifest] | None = None
    scope_index: Container[str] | None = None  # every scope some file names, broken or not
    target_list: list[TargetManifest] | None = None  # ``targets``, from the cache's index
    # org scope -> metadata.targetIds of its usable manifest; the cache's live index: copy
    # it (``dict()``) before handing it to another thread
    target_ids: Mapping[str, dict[str, str]] | None = None

    @property
    def manifests(self) -> list[Manifest]:
        """Manifests of files without errors (warnings allowed), in file order."""
        return [c.manifest for c in self.checks if c.manifest is not None and c.ok]

    @property
    def targets(self) -> list[TargetManifest]:
        """Target manifests of files without errors."""
        if self.target_list is not None:
            return self.target_list
        return [c.target for c in self.checks if c.target is not None and c.ok]

    @property
    def broken(self) -> list[FileCheck]:
        if self.broken_checks is not None:
            return self.broken_checks
        return [c for c in self.checks if not c.ok]

    def scope_names(self) -> Container[str]:
        """Every scope a file of the set names, valid or broken (whose ``<ORG>_`` env
        prefix is taken, see ``secrets.env_claimant``)."""
        if self.scope_index is not None:
            return self.scope_index
        return {c.ident.scope for c in self.checks if c.ident is not None}

    def by_scope(self) -> Mapping[str, Manifest]:
        """The usable manifest of each scope (only meaningful without set-wide errors)."""
        if self.scope_manifests is not None:
            return self.scope_manifests
        return {m.scope: m for m in self.manifests}


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
    manifest = target = None
    ident = identity(doc)
    if not any(d.is_error for d in diags):
        if doc.data.get("kind") in TARGET_KINDS:
            target = TargetManifest.from_document(doc.data, display)
        else:  # the identity's scope string is the manifest's too
            scope = ident.scope if ident is not None else None
            manifest = Manifest.from_document(doc.data, display, scope)
    return FileCheck(display, ident, tuple(diags), manifest, target)


def combine(
    checks: Iterable[FileCheck], *, require_host: bool, where: str = "configs"
) -> ValidationRun:
    """Apply the set-wide rules to already-checked files that form one set."""
    return _combine_sets([(list(checks), require_host, where)])


def _combine_sets(sets: list[tuple[list[FileCheck], bool, str]]) -> ValidationRun:
    run = ValidationRun(CheckResult())
    for checks, require_host, where in sets:
        run.checks.extend(checks)
        for check in checks:
            run.result.files.append(check.file)
            run.result.extend(check.diagnostics)
        idents = [c.ident for c in checks if c.ident is not None]
        errors = set_diagnostics(idents, require_host=require_host, where=where)
        run.set_errors.extend(errors)
        run.result.extend(errors)
        # Per-scope, not set-wide errors: the reconcile holds only the scope that uses
        # the variable (its secret is refused when resolved), never the whole set.
        run.result.extend(secret_set_diagnostics(idents))
    return run


# A mailctl manifest says so at the top level: ``apiVersion: mailctl/...`` or one of our kinds.
KINDS = ("HostMailSettings", "OrgMailSettings", *TARGET_KINDS)
_OURS = re.compile(
    rb"^(?:apiVersion[ \t]*:[ \t]*[\"']?mailctl/|kind[ \t]*:[ \t]*[\"']?(?:"
    + "|".join(KINDS).encode()
    + rb")\b)",
    re.MULTILINE,
)


def is_foreign(path: Path) -> bool:
    """True for a readable regular file that is not a mailctl manifest (a compose file, a
    Kubernetes manifest, a CI workflow). Anything that cannot be told apart (unreadable,
    not a regular file) is *not* foreign: the reader then reports it as usual."""
    try:
        if not path.is_file():
            return False
        with path.open("rb") as fh:
            head = fh.read(MAX_BYTES)
    except OSError:
        return False
    return _OURS.search(head) is None


def validate_paths(
    paths: list[Path],
    *,
    require_host: bool | None = None,
    progress: Progress | None = None,
    skip_foreign: bool = False,
) -> ValidationRun:
    """Validate files and folders.

    Each folder is a set of its own (exactly one host, no duplicates); files given one by
    one (the pre-commit case) form one set, checked against each other but not required
    to contain a host. ``require_host`` overrides the host rule for every set.
    ``progress`` hears ``reading manifests N/total`` as files are checked.
    ``skip_foreign`` skips files given one by one that are not mailctl manifests (the
    pre-commit hook's case: every YAML file of a repository); inside a folder every YAML
    file is a manifest, as for ``plan`` and the daemon.
    """
    sets: list[tuple[list[FileCheck], bool, str]] = []
    loose: list[FileCheck] = []
    skipped: list[str] = []
    for path in paths:
        if skip_foreign and not path.is_dir() and is_foreign(path):
            skipped.append(str(path))
            continue
        entries = list(discover([path]))
        if progress is not None:
            progress.phase("reading manifests", len(entries))
        found = []
        for p, name, pre in entries:
            found.append(check_file(p, name, pre))
            if progress is not None:
                progress.step()
        if path.is_dir():
            need = True if require_host is None else require_host
            sets.append((found, need, str(path)))
        else:
            loose.extend(found)
    if loose or not sets:
        sets.append((loose, bool(require_host), "the files given"))
    run = _combine_sets(sets)
    run.result.skipped.extend(skipped)
    return run
