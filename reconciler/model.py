"""The typed model: frozen values built from validated manifests.

Manifests arrive here only after validation, so constructors trust the shape. Effective
settings also have a *flat* form (``{"smtp.host": ..., ...}``) used for provenance, plans,
storage and probe deduplication; ``FIELDS`` fixes its keys and order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

HOST_KIND = "HostMailSettings"
ORG_KIND = "OrgMailSettings"
ORCHESTRATOR_TARGET_KIND = "OrchestratorTarget"
WEBHOOK_TARGET_KIND = "WebhookTarget"
TARGET_KINDS = (ORCHESTRATOR_TARGET_KIND, WEBHOOK_TARGET_KIND)
TARGET_PREFIX = "target/"  # the identity of a target manifest in set-wide rules
API_VERSION = "mailctl/v1"
HOST_SCOPE = "host"
ORG_PREFIX = "org/"

Tls = Literal["starttls", "implicit", "none"]
Mode = Literal["default", "custom"]
Source = Literal["platform", "host", "org"]

DEFAULT_TIMEOUT_MS = 180_000
DEFAULT_WITHIN_MS = 120_000
DEFAULT_MAILBOX = "INBOX"

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
    "smtp.auth.oauth2.tokenUrl",
    "smtp.auth.oauth2.clientId",
    "smtp.auth.oauth2.clientSecret",
    "smtp.auth.oauth2.scope",
    "from.address",
    "from.displayName",
    "probe.to",
    "probe.confirm.imap.host",
    "probe.confirm.imap.port",
    "probe.confirm.imap.tls",
    "probe.confirm.imap.username",
    "probe.confirm.imap.password",
    "probe.confirm.imap.mailbox",
    "probe.confirm.imap.junk",
    "probe.confirm.maildir",
    "probe.confirm.withinMs",
    "probe.ehloName",
)
# Fields whose secret is covered by the scope's fingerprint (rotation shows in plans).
SECRET_FIELDS = frozenset({"smtp.auth.password", "smtp.auth.oauth2.clientSecret"})
# Every field of the ``probe`` block: it is inherited as one unit (the confirmation
# mailbox belongs to the recipient).
PROBE_FIELDS: tuple[str, ...] = tuple(f for f in FIELDS if f.startswith("probe."))


# The schema's ``dnsLabel`` pattern, matched against the *whole* value (``fullmatch``: no
# trailing-newline bypass as with ``re.match(...$)``).
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def is_dns_label(name: str) -> bool:
    return _DNS_LABEL.fullmatch(name) is not None


def host_first(scope: str) -> tuple[bool, str]:
    """Sort key of scopes: ``host`` first, then orgs by name."""
    return (scope != HOST_SCOPE, scope)


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
class OAuth2:
    """OAuth2 client-credentials grant (RFC 6749 §4.4) for SASL XOAUTH2.

    The client secret is ``Auth.password`` (the one secret the SMTP login needs), so
    resolution, tenant scoping, fingerprinting and redaction treat it like a password."""

    token_url: str
    client_id: str
    scope: str


@dataclass(frozen=True, slots=True)
class Auth:
    """SMTP login. ``password`` is the secret the client proves itself with: the SMTP
    password, or with ``oauth2`` the OAuth2 client secret (never both)."""

    username: str
    password: SecretRef
    oauth2: OAuth2 | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Auth:
        oauth = data.get("oauth2")
        if oauth:
            return cls(
                str(data["username"]),
                SecretRef.from_dict(oauth["clientSecret"]),
                OAuth2(str(oauth["tokenUrl"]), str(oauth["clientId"]), str(oauth["scope"])),
            )
        return cls(str(data["username"]), SecretRef.from_dict(data["password"]))


ImapTls = Literal["implicit", "starttls"]


@dataclass(frozen=True, slots=True)
class ImapConfirm:
    """Where the probe recipient's mail is read back over IMAP."""

    host: str
    port: int
    username: str
    password: SecretRef
    tls: ImapTls = "implicit"
    mailbox: str = DEFAULT_MAILBOX
    junk: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImapConfirm:
        return cls(
            host=str(data["host"]),
            port=int(data["port"]),
            username=str(data["username"]),
            password=SecretRef.from_dict(data["password"]),
            tls=data.get("tls", "implicit"),
            mailbox=str(data.get("mailbox", DEFAULT_MAILBOX)),
            junk=data.get("junk"),
        )


@dataclass(frozen=True, slots=True)
class Confirm:
    """Delivery confirmation (DESIGN §11): exactly one of ``imap`` or ``maildir``."""

    imap: ImapConfirm | None = None
    maildir: str | None = None
    within_ms: int = DEFAULT_WITHIN_MS

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Confirm:
        imap = data.get("imap")
        return cls(
            imap=ImapConfirm.from_dict(imap) if imap else None,
            maildir=data.get("maildir"),
            within_ms=int(data.get("withinMs", DEFAULT_WITHIN_MS)),
        )


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
            auth=Auth.from_dict(auth) if auth else None,
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
    confirm: Confirm | None = None
    ehlo_name: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MailSpec:
        smtp, sender, probe = data.get("smtp"), data.get("from"), data.get("probe")
        confirm = probe.get("confirm") if probe else None
        return cls(
            mode=data["mode"],
            smtp=SmtpSettings.from_dict(smtp) if smtp else None,
            sender=Sender.from_dict(sender) if sender else None,
            probe_to=probe.get("to") if probe else None,
            confirm=Confirm.from_dict(confirm) if confirm else None,
            ehlo_name=probe.get("ehloName") if probe else None,
        )


@dataclass(frozen=True, slots=True)
class Manifest:
    """One validated manifest. ``raw`` is the spec mapping as written (secret refs only)."""

    kind: str
    name: str | None
    spec: MailSpec
    source: str
    raw: dict[str, Any]
    # metadata.targetIds of an org: its partition id per target name (DESIGN §12)
    target_ids: dict[str, str] = field(default_factory=dict)
    _scope: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def scope(self) -> str:
        """Computed once: the desired state, the plan and the records written share this
        one string (100,000 orgs asked three times made 200,000 more)."""
        scope = self._scope
        if scope is None:
            scope = HOST_SCOPE if self.kind == HOST_KIND else org_scope(str(self.name))
            object.__setattr__(self, "_scope", scope)
        return scope

    @classmethod
    def from_document(cls, doc: dict[str, Any], source: str, scope: str | None = None) -> Manifest:
        """``scope``: the scope the document names, when known (its one string is kept)."""
        meta = doc.get("metadata") or {}
        raw = doc["spec"]
        # The spec of every org that only inherits, shared (read only: specs are values).
        plain = raw == _INHERIT_RAW
        manifest = cls(
            kind=doc["kind"],
            name=meta.get("name"),
            spec=_INHERIT_SPEC if plain else MailSpec.from_dict(raw),
            source=source,
            raw=_INHERIT_RAW if plain else raw,
            target_ids=dict(meta.get("targetIds") or {}),
        )
        if scope is not None and scope == manifest.scope:
            object.__setattr__(manifest, "_scope", scope)
        return manifest


_INHERIT_RAW: dict[str, Any] = {"mode": "default"}
_INHERIT_SPEC = MailSpec.from_dict(_INHERIT_RAW)


@dataclass(frozen=True, slots=True)
class Effective:
    """Resolved settings a scope sends mail with."""

    smtp: SmtpSettings
    sender: Sender
    probe_to: str | None = None
    confirm: Confirm | None = None
    ehlo_name: str | None = None  # spec.probe.ehloName: travels with probe_to

    def flat(self) -> dict[str, Any]:
        auth = self.smtp.auth
        oauth = auth.oauth2 if auth else None
        confirm = self.confirm
        imap = confirm.imap if confirm else None
        return {
            "smtp.host": self.smtp.host,
            "smtp.port": self.smtp.port,
            "smtp.tls": self.smtp.tls,
            "smtp.timeoutMs": self.smtp.timeout_ms,
            "smtp.domain": self.smtp.domain,
            "smtp.auth.username": auth.username if auth else None,
            "smtp.auth.password": str(auth.password) if auth and not oauth else None,
            "smtp.auth.oauth2.tokenUrl": oauth.token_url if oauth else None,
            "smtp.auth.oauth2.clientId": oauth.client_id if oauth else None,
            "smtp.auth.oauth2.clientSecret": str(auth.password) if auth and oauth else None,
            "smtp.auth.oauth2.scope": oauth.scope if oauth else None,
            "from.address": self.sender.address,
            "from.displayName": self.sender.display_name,
            "probe.to": self.probe_to,
            "probe.confirm.imap.host": imap.host if imap else None,
            "probe.confirm.imap.port": imap.port if imap else None,
            "probe.confirm.imap.tls": imap.tls if imap else None,
            "probe.confirm.imap.username": imap.username if imap else None,
            "probe.confirm.imap.password": str(imap.password) if imap else None,
            "probe.confirm.imap.mailbox": imap.mailbox if imap else None,
            "probe.confirm.imap.junk": imap.junk if imap else None,
            "probe.confirm.maildir": confirm.maildir if confirm else None,
            "probe.confirm.withinMs": confirm.within_ms if confirm else None,
            "probe.ehloName": self.ehlo_name,
        }

    def with_probe(
        self, probe_to: str | None, confirm: Confirm | None, ehlo_name: str | None
    ) -> Effective:
        """The same SMTP settings with another ``probe`` block."""
        return Effective(self.smtp, self.sender, probe_to, confirm, ehlo_name)

    @classmethod
    def from_flat(cls, flat: dict[str, Any]) -> Effective:
        return cls(
            smtp=SmtpSettings(
                host=flat["smtp.host"],
                port=int(flat["smtp.port"]),
                tls=flat.get("smtp.tls") or "starttls",
                timeout_ms=int(flat.get("smtp.timeoutMs") or DEFAULT_TIMEOUT_MS),
                domain=flat.get("smtp.domain"),
                auth=_auth_from_flat(flat),
            ),
            sender=Sender(flat["from.address"], flat.get("from.displayName")),
            probe_to=flat.get("probe.to"),
            confirm=_confirm_from_flat(flat),
            ehlo_name=flat.get("probe.ehloName"),
        )


def _auth_from_flat(flat: dict[str, Any]) -> Auth | None:
    user = flat.get("smtp.auth.username")
    if user is None:
        return None
    secret = flat.get("smtp.auth.oauth2.clientSecret")
    if secret:
        oauth = OAuth2(
            str(flat["smtp.auth.oauth2.tokenUrl"]),
            str(flat["smtp.auth.oauth2.clientId"]),
            str(flat["smtp.auth.oauth2.scope"]),
        )
        return Auth(user, SecretRef.parse(secret), oauth)
    pw = flat.get("smtp.auth.password")
    return Auth(user, SecretRef.parse(pw)) if pw else None


def _confirm_from_flat(flat: dict[str, Any]) -> Confirm | None:
    within = flat.get("probe.confirm.withinMs")
    if within is None:
        return None
    imap = None
    if flat.get("probe.confirm.imap.host") is not None:
        imap = ImapConfirm(
            host=str(flat["probe.confirm.imap.host"]),
            port=int(flat["probe.confirm.imap.port"]),
            username=str(flat["probe.confirm.imap.username"]),
            password=SecretRef.parse(str(flat["probe.confirm.imap.password"])),
            tls=flat.get("probe.confirm.imap.tls") or "implicit",
            mailbox=str(flat.get("probe.confirm.imap.mailbox") or DEFAULT_MAILBOX),
            junk=flat.get("probe.confirm.imap.junk"),
        )
    return Confirm(imap=imap, maildir=flat.get("probe.confirm.maildir"), within_ms=int(within))
