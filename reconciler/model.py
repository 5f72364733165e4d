"""The typed model: frozen values built from validated manifests.

Manifests arrive here only after validation, so constructors trust the shape. Effective
settings also have a *flat* form (``{"smtp.host": ..., ...}``) used for provenance, plans,
storage and probe deduplication; ``FIELDS`` fixes its keys and order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

HOST_KIND = "HostMailSettings"
ORG_KIND = "OrgMailSettings"
API_VERSION = "mailctl/v1"
HOST_SCOPE = "host"
ORG_PREFIX = "org/"

Tls = Literal["starttls", "implicit", "none"]
Mode = Literal["default", "custom"]
Source = Literal["platform", "host", "org"]

DEFAULT_TIMEOUT_MS = 180_000

# Flat effective-settings fields, in display order. ``smtp.auth.password`` holds the secret
# *reference* (``env:NAME`` / ``file:/path``), never a value.
FIELDS: tuple[str, ...] = (
    "smtp.host",
    "smtp.port",
    "smtp.tls",
    "smtp.timeoutMs",
    "smtp.domain",
    "smtp.auth.username",
    "smtp.auth.password",
    "from.address",
    "from.displayName",
    "probe.to",
)
SECRET_FIELDS = frozenset({"smtp.auth.password"})


# The schema's ``dnsLabel`` pattern, matched against the *whole* value (``fullmatch``: no
# trailing-newline bypass as with ``re.match(...$)``).
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def is_dns_label(name: str) -> bool:
    return _DNS_LABEL.fullmatch(name) is not None


def org_scope(name: str) -> str:
    return f"{ORG_PREFIX}{name}"


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a secret lives: an environment variable or a file. Never the value itself."""

    env: str | None = None
    file: str | None = None

    def __str__(self) -> str:
        return f"env:{self.env}" if self.env is not None else f"file:{self.file}"

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        kind, _, ref = text.partition(":")
        if kind == "env":
            return cls(env=ref)
        if kind == "file":
            return cls(file=ref)
        raise ValueError(f"not a secret reference: {text!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SecretRef:
        if "env" in data:
            return cls(env=str(data["env"]))
        return cls(file=str(data["file"]))

    def to_dict(self) -> dict[str, str]:
        return {"env": self.env} if self.env is not None else {"file": str(self.file)}


@dataclass(frozen=True, slots=True)
class Auth:
    username: str
    password: SecretRef


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    tls: Tls = "starttls"
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    domain: str | None = None
    auth: Auth | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SmtpSettings:
        auth = data.get("auth")
        return cls(
            host=str(data["host"]),
            port=int(data["port"]),
            tls=data.get("tls", "starttls"),
            timeout_ms=int(data.get("timeoutMs", DEFAULT_TIMEOUT_MS)),
            domain=data.get("domain"),
            auth=(
                Auth(str(auth["username"]), SecretRef.from_dict(auth["password"])) if auth else None
            ),
        )


@dataclass(frozen=True, slots=True)
class Sender:
    address: str
    display_name: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sender:
        return cls(str(data["address"]), data.get("displayName"))


@dataclass(frozen=True, slots=True)
class MailSpec:
    """The ``spec`` of a host or org manifest."""

    mode: Mode
    smtp: SmtpSettings | None = None
    sender: Sender | None = None
    probe_to: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MailSpec:
        smtp, sender, probe = data.get("smtp"), data.get("from"), data.get("probe")
        return cls(
            mode=data["mode"],
            smtp=SmtpSettings.from_dict(smtp) if smtp else None,
            sender=Sender.from_dict(sender) if sender else None,
            probe_to=probe.get("to") if probe else None,
        )


@dataclass(frozen=True, slots=True)
class Manifest:
    """One validated manifest. ``raw`` is the spec mapping as written (secret refs only)."""

    kind: str
    name: str | None
    spec: MailSpec
    source: str
    raw: dict[str, Any]

    @property
    def scope(self) -> str:
        return HOST_SCOPE if self.kind == HOST_KIND else org_scope(str(self.name))

    @classmethod
    def from_document(cls, doc: dict[str, Any], source: str) -> Manifest:
        meta = doc.get("metadata") or {}
        return cls(
            kind=doc["kind"],
            name=meta.get("name"),
            spec=MailSpec.from_dict(doc["spec"]),
            source=source,
            raw=doc["spec"],
        )


@dataclass(frozen=True, slots=True)
class Effective:
    """Resolved settings a scope sends mail with."""

    smtp: SmtpSettings
    sender: Sender
    probe_to: str | None = None

    def flat(self) -> dict[str, Any]:
        auth = self.smtp.auth
        return {
            "smtp.host": self.smtp.host,
            "smtp.port": self.smtp.port,
            "smtp.tls": self.smtp.tls,
            "smtp.timeoutMs": self.smtp.timeout_ms,
            "smtp.domain": self.smtp.domain,
            "smtp.auth.username": auth.username if auth else None,
            "smtp.auth.password": str(auth.password) if auth else None,
            "from.address": self.sender.address,
            "from.displayName": self.sender.display_name,
            "probe.to": self.probe_to,
        }

    @classmethod
    def from_flat(cls, flat: dict[str, Any]) -> Effective:
        user, pw = flat.get("smtp.auth.username"), flat.get("smtp.auth.password")
        return cls(
            smtp=SmtpSettings(
                host=flat["smtp.host"],
                port=int(flat["smtp.port"]),
                tls=flat.get("smtp.tls") or "starttls",
                timeout_ms=int(flat.get("smtp.timeoutMs") or DEFAULT_TIMEOUT_MS),
                domain=flat.get("smtp.domain"),
                auth=Auth(user, SecretRef.parse(pw)) if user is not None and pw else None,
            ),
            sender=Sender(flat["from.address"], flat.get("from.displayName")),
            probe_to=flat.get("probe.to"),
        )
