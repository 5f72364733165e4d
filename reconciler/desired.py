"""The desired state: what the manifests ask for, scope by scope, and what must be held.

``build_desired`` turns a validation run (plus the last applied records, for scopes whose
files are broken) into resolved settings per scope. A scope is *held* — kept at its last
applied settings — when its file is invalid, its secret cannot be resolved, or the set as a
whole is broken (then every scope is held and nothing is pruned).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from reconciler.diagnostics import Diagnostic
from reconciler.errors import SecretError
from reconciler.model import HOST_SCOPE, Effective, Manifest
from reconciler.resolve import Resolved, resolve_host, resolve_host_manifest, resolve_org
from reconciler.secrets import SecretCache, secret_owner
from reconciler.validate import ValidationRun


class StoredRef(Protocol):
    """What ``build_desired`` needs of every stored scope (a ``store.ScopeDigest`` row)."""

    @property
    def scope(self) -> str: ...
    @property
    def source_file(self) -> str | None: ...


@runtime_checkable
class StoredScope(Protocol):
    """What desired/plan need of a stored record (``store.ScopeRecord`` satisfies it)."""

    @property
    def scope(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def spec(self) -> dict[str, Any]: ...
    @property
    def effective(self) -> dict[str, Any]: ...
    @property
    def sources(self) -> dict[str, str]: ...
    @property
    def fingerprint(self) -> str | None: ...
    @property
    def source_file(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class DesiredScope:
    scope: str
    mode: str
    spec: dict[str, Any]
    resolved: Resolved
    fingerprint: str | None
    source_file: str

    @property
    def effective(self) -> dict[str, Any]:
        return self.resolved.flat

    @property
    def sources(self) -> dict[str, str]:
        return self.resolved.sources  # type: ignore[return-value]  # shared: read only


@dataclass(frozen=True, slots=True)
class Held:
    """A scope kept as it is (its last applied settings, or nothing if never applied)."""

    scope: str
    # InvalidManifest | SecretUnresolved | SetInvalid | HostUnavailable | ProbeFailed |
    # PruneBlocked (its manifest is gone while another file names no scope)
    reason: str
    message: str
    diagnostics: tuple[Diagnostic, ...] = ()
    source_file: str | None = None
    applied: bool = True  # the store has a record of it (set by ``compute_plan``)


@dataclass(slots=True)
class DesiredState:
    scopes: dict[str, DesiredScope] = field(default_factory=dict)
    held: dict[str, Held] = field(default_factory=dict)
    set_error: bool = False
    diagnostics: tuple[Diagnostic, ...] = ()
    # Broken files that name no scope and defined none before: nothing to hold, but the
    # run must not look clean. ``Held.scope`` is the file here.
    unassigned: dict[str, Held] = field(default_factory=dict)
    # Every broken file that names no scope (claimed by a stored scope or not): while one
    # exists nothing is pruned, since it may be the renamed manifest of any org.
    unnamed_files: tuple[str, ...] = ()

    @property
    def may_prune(self) -> bool:
        return not self.set_error and not self.unnamed_files


def _first_line(diags: tuple[Diagnostic, ...] | list[Diagnostic]) -> str:
    errors = [d for d in diags if d.is_error] or list(diags)
    if not errors:
        return "invalid manifest"
    d = errors[0]
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{d.file}:{d.line}:{d.column}: {d.message} [{d.rule}]{more}"


def stored_resolved(record: StoredScope) -> Resolved:
    return Resolved(Effective.from_flat(record.effective), dict(record.sources))  # type: ignore[arg-type]


def build_desired(
    run: ValidationRun,
    stored: Mapping[str, StoredRef],
    platform: Effective,
    secrets: SecretCache | None,
    only: frozenset[str] | None = None,
) -> DesiredState:
    """Resolve every valid manifest; hold what is broken. ``secrets=None`` skips secrets
    (``diff`` on a CI machine without them): fingerprints stay ``None``. ``only`` limits
    the work to those scopes (the daemon's incremental path); the host is always resolved
    because orgs inherit from it, so ``only`` must include it. ``stored`` needs only each
    scope's name and source file, but the host's whole record (its settings are the
    fallback while the host manifest is held)."""
    state = DesiredState(diagnostics=tuple(run.result.diagnostics))
    if run.set_errors or not run.checks:
        state.set_error = True
        message = (
            _first_line(run.set_errors)
            if run.set_errors
            else "no manifests found in the configs folder; refusing to prune anything"
        )
        for scope, record in stored.items():
            state.held[scope] = Held(
                scope, "SetInvalid", message, tuple(run.set_errors), record.source_file
            )
        return state

    broken_files: dict[str, tuple[Diagnostic, ...]] = {}
    broken_named: dict[str, tuple[Diagnostic, ...]] = {}
    for check in run.broken:
        named = check.scope
        if named is not None:
            broken_named[check.file] = check.diagnostics
            state.held[named] = Held(
                named,
                "InvalidManifest",
                _first_line(check.diagnostics),
                check.diagnostics,
                check.file,
            )
        else:
            broken_files[check.file] = check.diagnostics
    state.unnamed_files = tuple(sorted(broken_files))
    if secrets is not None:
        # An org's env var may belong to a longer org prefix (secrets.env_claimant): every
        # org some file names; while a file names no scope nothing is pruned, so the
        # stored orgs (that file may be one of theirs) keep their prefixes too.
        secrets.know(run.scope_names(), *((stored,) if state.unnamed_files else ()))
    # A file too broken to name its scope holds whatever scope it defined last time.
    claimed: set[str] = set()
    for record in stored.values():
        diags = broken_files.get(record.source_file) if record.source_file else None
        if diags is not None and record.scope not in state.held:
            claimed.add(str(record.source_file))
            state.held[record.scope] = Held(
                record.scope, "InvalidManifest", _first_line(diags), diags, record.source_file
            )
    for file, diags in broken_files.items():
        if file not in claimed:
            state.unassigned[file] = Held(
                file, "InvalidManifest", _first_line(diags), diags, file, applied=False
            )

    manifests = run.by_scope()
    host_manifest = manifests.get(HOST_SCOPE)
    host: Resolved | None = None
    if host_manifest is not None and HOST_SCOPE not in state.held:
        host = resolve_host_manifest(host_manifest, platform)
        _add(state, host_manifest, host, secrets)
        if HOST_SCOPE in state.held:  # its secret failed: orgs inherit the applied host
            host = None
    if host is None and HOST_SCOPE in stored:
        stored_host = stored[HOST_SCOPE]
        if not isinstance(stored_host, StoredScope):
            raise TypeError("build_desired needs the host's whole stored record")
        host = stored_resolved(stored_host)
    # Only the scopes asked for: the daemon's one-file path costs that file's scopes.
    todo = run.manifests if only is None else [manifests[s] for s in sorted(only) if s in manifests]
    for manifest in todo:
        scope = manifest.scope
        if scope == HOST_SCOPE or scope in state.held:
            continue
        if host is None and manifest.spec.mode == "default":
            state.held[scope] = Held(
                scope,
                "HostUnavailable",
                "the host manifest is invalid and was never applied",
                source_file=manifest.source,
            )
            continue
        # A custom org needs the host only for a probe.to fallback.
        parent = host if host is not None else resolve_host("default", None, None, platform)
        resolved = resolve_org(manifest, parent)
        _add(state, manifest, resolved, secrets)
    _hold_orphans(state, stored, manifests, broken_named)
    return state


def _hold_orphans(
    state: DesiredState,
    stored: Mapping[str, StoredRef],
    manifests: Mapping[str, Manifest],
    broken_named: Mapping[str, tuple[Diagnostic, ...]],
) -> None:
    """Stored orgs without a valid manifest that must not be pruned: their own file is
    broken now (even if it names another scope), or some file names no scope at all."""
    for scope, record in stored.items():
        if scope == HOST_SCOPE or scope in manifests or scope in state.held:
            continue
        diags = broken_named.get(record.source_file or "")
        if diags is not None:
            state.held[scope] = Held(
                scope,
                "InvalidManifest",
                f"its manifest {record.source_file} is invalid and names another scope now: "
                + _first_line(diags),
                diags,
                record.source_file,
            )
    if not state.may_prune:
        _hold_unprunable(state, stored, manifests)


def _hold_unprunable(
    state: DesiredState, stored: Mapping[str, StoredRef], manifests: Mapping[str, Manifest]
) -> None:
    """Orgs whose manifest is gone while some file names no scope: held, never pruned (the
    unreadable file may be that org's manifest, renamed and broken)."""
    first = state.unnamed_files[0]
    more = len(state.unnamed_files) - 1
    blocker = first + (f" (+{more} more)" if more else "")
    diags = tuple(d for h in state.unassigned.values() for d in h.diagnostics) or tuple(
        d for d in state.diagnostics if d.file == first
    )
    for scope, record in stored.items():
        if scope == HOST_SCOPE or scope in manifests or scope in state.held:
            continue
        state.held[scope] = Held(
            scope,
            "PruneBlocked",
            f"its manifest {record.source_file or '(unknown)'} is gone, but {blocker} cannot "
            "be read or names no scope; nothing is pruned until every file parses",
            diags,
            record.source_file,
        )


def _add(
    state: DesiredState, manifest: Manifest, resolved: Resolved, secrets: SecretCache | None
) -> None:
    fp = None
    auth = resolved.effective.smtp.auth
    if auth is not None and secrets is not None:
        try:
            fp = secrets.fingerprint(auth.password, secret_owner(manifest.scope, resolved.sources))
        except SecretError as exc:
            state.held[manifest.scope] = Held(
                manifest.scope, "SecretUnresolved", exc.message, source_file=manifest.source
            )
            return
    state.scopes[manifest.scope] = DesiredScope(
        manifest.scope, manifest.spec.mode, manifest.raw, resolved, fp, manifest.source
    )
