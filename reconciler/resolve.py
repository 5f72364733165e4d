"""Effective settings with provenance: platform defaults → host → org (DESIGN §1).

Pure functions over the model. ``custom`` replaces the inherited settings entirely (no
field-by-field merge); ``probe.to`` is the one field that falls back to the parent when a
custom scope has no ``probe`` of its own. The ``probe`` block (recipient, delivery
confirmation and ``ehloName``) is inherited as one unit: a mailbox to confirm belongs to
its recipient.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.errors import ConfigError
from reconciler.model import (
    FIELDS,
    HOST_KIND,
    PROBE_FIELDS,
    Auth,
    Confirm,
    Effective,
    Manifest,
    SecretRef,
    Sender,
    SmtpSettings,
    Source,
)

BUILTIN_PLATFORM = Effective(
    smtp=SmtpSettings(
        host="smtp.sendgrid.net",
        port=587,
        tls="starttls",
        auth=Auth("apikey", SecretRef(env="MAILCTL_PLATFORM_SMTP_PASSWORD")),
    ),
    sender=Sender("admin@mydomain.com", "sender mydomain.com"),
)


@dataclass(frozen=True, slots=True)
class Resolved:
    """A scope's effective settings and where each field comes from."""

    effective: Effective
    sources: dict[str, Source]
    _flat: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def flat(self) -> dict[str, Any]:
        """The flat settings, computed once: every org inheriting the host shares this
        ``Resolved`` and so one dict (records are values; nobody mutates them)."""
        flat = self._flat
        if flat is None:
            flat = self.effective.flat()
            object.__setattr__(self, "_flat", flat)
        return flat

    def flat_once(self) -> dict[str, Any]:
        """:attr:`flat` without keeping it when it was not computed yet: a scope's own
        settings compared once (an unchanged custom org) need not stay in memory."""
        flat = self._flat
        return self.effective.flat() if flat is None else flat


def _all(source: Source) -> dict[str, Source]:
    return dict.fromkeys(FIELDS, source)


# Every custom org with its own probe has these sources: one dict shared by all of them
# (read only, like every Resolved's sources: records are values).
_ALL_ORG = _all("org")


def _probe_from(sources: dict[str, Source], source: Source) -> None:
    for name in PROBE_FIELDS:
        sources[name] = source


def resolve_host(
    spec_mode: str,
    own: Effective | None,
    probe_to: str | None,
    platform: Effective,
    confirm: Confirm | None = None,
    ehlo_name: str | None = None,
) -> Resolved:
    """The host: platform defaults (``default``) or its own settings (``custom``)."""
    if spec_mode == "custom" and own is not None:
        sources = _all("host")
        effective = own
        if own.probe_to is None and platform.probe_to is not None:
            effective = own.with_probe(platform.probe_to, platform.confirm, platform.ehlo_name)
            _probe_from(sources, "platform")
        return Resolved(effective, sources)
    sources = _all("platform")
    effective = platform
    if probe_to is not None:
        effective = platform.with_probe(probe_to, confirm, ehlo_name)
        _probe_from(sources, "host")
    return Resolved(effective, sources)


def resolve_org(manifest: Manifest, host: Resolved) -> Resolved:
    """An org: the host's effective settings (``default``) or its own (``custom``)."""
    spec = manifest.spec
    if spec.mode == "custom" and spec.smtp is not None and spec.sender is not None:
        own = Effective(spec.smtp, spec.sender, spec.probe_to, spec.confirm, spec.ehlo_name)
        if spec.probe_to is not None:
            return Resolved(own, _ALL_ORG)
        sources = _all("org")
        parent = host.effective
        own = own.with_probe(parent.probe_to, parent.confirm, parent.ehlo_name)
        _probe_from(sources, host.sources["probe.to"])
        return Resolved(own, sources)
    if spec.probe_to is not None:
        sources = dict(host.sources)
        _probe_from(sources, "org")
        effective = host.effective.with_probe(spec.probe_to, spec.confirm, spec.ehlo_name)
        return Resolved(effective, sources)
    return host


def resolve_host_manifest(manifest: Manifest, platform: Effective) -> Resolved:
    spec = manifest.spec
    if spec.mode == "custom" and spec.smtp is not None and spec.sender is not None:
        own = Effective(spec.smtp, spec.sender, spec.probe_to, spec.confirm, spec.ehlo_name)
        return resolve_host(spec.mode, own, spec.probe_to, platform)
    return resolve_host(spec.mode, None, spec.probe_to, platform, spec.confirm, spec.ehlo_name)


def load_platform_defaults(path: Path | None) -> Effective:
    """The built-in platform defaults, or a deployment's HostMailSettings (custom) file."""
    if path is None:
        return BUILTIN_PLATFORM
    from reconciler.validate import validate_paths

    run = validate_paths([path], require_host=False)
    if not run.result.valid():
        first = run.result.errors[0]
        raise ConfigError(
            f"--platform-defaults {first.file}:{first.line}:{first.column}: {first.message}",
            hint=first.hint,
        )
    manifest = run.manifests[0]
    spec = manifest.spec
    if manifest.kind != HOST_KIND or spec.smtp is None or spec.sender is None:
        raise ConfigError(
            f"--platform-defaults {path}: must be a HostMailSettings manifest in custom mode",
            hint="copy configs/host.yaml, set 'mode: custom' and the platform's SMTP settings",
        )
    return Effective(spec.smtp, spec.sender, spec.probe_to, spec.confirm, spec.ehlo_name)
