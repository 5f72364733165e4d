"""Semantic rules beyond the schema (DESIGN §1), each with a stable rule id.

Per-document rules run on documents that passed the schema; set-wide rules run on the
identities of every readable document.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from reconciler.diagnostics import Diagnostic, PathT, Rule, Severity, json_path
from reconciler.model import (
    HOST_KIND,
    HOST_SCOPE,
    ORG_KIND,
    ORG_PREFIX,
    TARGET_KINDS,
    TARGET_PREFIX,
    SecretRef,
    is_dns_label,
    org_scope,
)
from reconciler.net import is_loopback
from reconciler.reader import Document
from reconciler.secrets import (
    SecretPolicy,
    active_policy,
    check_ref,
    claimed_violation,
    env_claimant,
    env_prefix,
)

GMAIL_HOSTS = frozenset({"smtp.gmail.com", "smtp.googlemail.com"})
O365_HOSTS = frozenset({"smtp.office365.com", "smtp-mail.outlook.com"})


def _smtp(spec: dict[str, Any]) -> dict[str, Any]:
    smtp = spec.get("smtp")
    return smtp if isinstance(smtp, dict) else {}


def _cleartext_auth(spec: dict[str, Any]) -> Iterator[tuple[PathT, str, str]]:
    smtp = _smtp(spec)
    if smtp.get("auth") and smtp.get("tls") == "none" and not is_loopback(str(smtp["host"])):
        yield (
            ("spec", "smtp", "tls"),
            f"credentials would travel in clear text to {smtp['host']} (tls: none with auth)",
            "use 'tls: starttls' (port 587) or 'tls: implicit' (port 465)",
        )


def _gmail_sender(spec: dict[str, Any]) -> Iterator[tuple[PathT, str, str]]:
    smtp = _smtp(spec)
    if str(smtp.get("host", "")).lower() not in GMAIL_HOSTS:
        return
    auth = smtp.get("auth")
    if not auth:
        yield (
            ("spec", "smtp"),
            "Gmail requires authentication",
            "add 'auth' with the Gmail address and an app password",
        )
        return
    sender = spec.get("from") or {}
    if str(sender.get("address", "")).lower() != str(auth.get("username", "")).lower():
        yield (
            ("spec", "from", "address"),
            f"Gmail rejects from.address {sender.get('address')!r} "
            f"that differs from auth.username {auth.get('username')!r}",
            "set from.address to the authenticated Gmail address",
        )


def _port_tls(spec: dict[str, Any]) -> Iterator[tuple[PathT, str, str]]:
    smtp = _smtp(spec)
    port, tls = smtp.get("port"), smtp.get("tls", "starttls")
    if port == 465 and tls == "starttls":
        yield (
            ("spec", "smtp", "tls"),
            "port 465 usually speaks implicit TLS, but tls is starttls",
            "use 'tls: implicit' for port 465, or port 587 for STARTTLS",
        )
    elif port in (25, 587) and tls == "implicit":
        yield (
            ("spec", "smtp", "tls"),
            f"port {port} usually speaks STARTTLS, but tls is implicit",
            f"use 'tls: starttls' for port {port}, or port 465 for implicit TLS",
        )


def _office365_basic(spec: dict[str, Any]) -> Iterator[tuple[PathT, str, str]]:
    smtp = _smtp(spec)
    auth = smtp.get("auth")
    if (
        str(smtp.get("host", "")).lower() in O365_HOSTS
        and isinstance(auth, dict)
        and "oauth2" not in auth
    ):
        yield (
            ("spec", "smtp", "auth"),
            "Office 365 SMTP basic authentication is being retired by Microsoft",
            "use 'auth.oauth2' (SASL XOAUTH2 with an app registration's client "
            "credentials) instead of 'password'; see examples/office365.yaml",
        )


def _oauth2_token_url(spec: dict[str, Any]) -> Iterator[tuple[PathT, str, str]]:
    auth = _smtp(spec).get("auth")
    oauth = auth.get("oauth2") if isinstance(auth, dict) else None
    if not isinstance(oauth, dict):
        return
    try:
        url = urlsplit(str(oauth.get("tokenUrl", "")))
        scheme, host = url.scheme, url.hostname or ""
    except ValueError:
        scheme, host = "", ""
    if scheme == "https" or (scheme == "http" and is_loopback(host)):
        return
    yield (
        ("spec", "smtp", "auth", "oauth2", "tokenUrl"),
        f"the token endpoint {scheme}://{host} is not https: the client secret and the "
        "token would travel in clear text",
        "use the https:// token URL (plain http:// is allowed only to a loopback address)",
    )


def _domain_without_auth(spec: dict[str, Any]) -> Iterator[tuple[PathT, str, str]]:
    smtp = _smtp(spec)
    if smtp.get("domain") and not smtp.get("auth"):
        yield (
            ("spec", "smtp", "domain"),
            "domain is set but there is no auth: it is only used with credentials",
            "add 'auth' or remove 'domain'",
        )


RULES: tuple[Rule, ...] = (
    Rule("smtp.cleartext-auth", Severity.ERROR, _cleartext_auth),
    Rule("gmail.sender-mismatch", Severity.ERROR, _gmail_sender),
    Rule("smtp.port-tls-mismatch", Severity.WARNING, _port_tls),
    Rule("office365.basic-auth", Severity.WARNING, _office365_basic),
    Rule("oauth2.token-url-insecure", Severity.ERROR, _oauth2_token_url),
    Rule("smtp.domain-without-auth", Severity.WARNING, _domain_without_auth),
)


# Keys whose value is a secret reference, wherever they sit in a spec (SMTP auth today;
# IMAP confirm, OAuth2 client secrets and targets use the same names).
SECRET_KEYS = frozenset({"password", "clientSecret", "secret"})


def _secret_refs(node: Any, path: PathT) -> Iterator[tuple[PathT, SecretRef]]:
    if isinstance(node, dict):
        for key, value in node.items():
            here = (*path, key)
            if key in SECRET_KEYS and isinstance(value, dict):
                if isinstance(value.get("env"), str):
                    yield (*here, "env"), SecretRef(env=value["env"])
                elif isinstance(value.get("file"), str):
                    yield (*here, "file"), SecretRef(file=value["file"])
            else:
                yield from _secret_refs(value, here)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _secret_refs(item, (*path, i))


def secret_diagnostics(doc: Document, policy: SecretPolicy | None = None) -> list[Diagnostic]:
    """``secret.scope`` / ``secret.outside-roots`` (DESIGN §8): the rules the reconcile
    enforces again when it resolves; nothing is read here."""
    data = doc.data if isinstance(doc.data, dict) else {}
    owner = None
    if data.get("kind") == ORG_KIND:
        meta = data.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        if not isinstance(name, str) or not name:
            return []
        owner = name
    pol = policy
    out = []
    for path, ref in _secret_refs(data.get("spec"), ("spec",)):
        if pol is None:  # looked up only when there is a reference to check
            pol = active_policy()
        violation = check_ref(ref, owner, pol)
        if violation is not None:
            line, col = doc.pos(path)
            out.append(
                Diagnostic(
                    doc.file,
                    line,
                    col,
                    json_path(path),
                    violation.rule,
                    Severity.ERROR,
                    violation.message,
                    violation.hint,
                )
            )
    return out


def document_diagnostics(doc: Document) -> list[Diagnostic]:
    spec = doc.data.get("spec") if isinstance(doc.data, dict) else None
    if not isinstance(spec, dict):
        return []
    out = []
    rules = RULES
    if doc.data.get("kind") in TARGET_KINDS:
        from reconciler.targets.rules import TARGET_RULES

        rules = TARGET_RULES
    for rule in rules:
        for path, message, hint in rule.check(spec):
            line, col = doc.pos(path)
            out.append(
                Diagnostic(
                    doc.file, line, col, json_path(path), rule.id, rule.severity, message, hint
                )
            )
    out.extend(secret_diagnostics(doc))
    return out


@dataclass(frozen=True, slots=True)
class Identity:
    """What the set-wide rules need of a document: its scope and two positions.

    Kept instead of the whole positioned document, so a daemon holding 10,000 checked
    files does not hold 10,000 position tables.
    """

    scope: str
    file: str
    name_pos: tuple[int, int]  # metadata.name (orgs) or the nearest ancestor
    kind_pos: tuple[int, int]
    line: int  # where the document starts
    # An org's env references that a longer org prefix could claim (ACME_CORP_X in acme):
    # (name, line, column, JSON path), for ``secret_set_diagnostics``. Usually empty.
    env_refs: tuple[tuple[str, int, int, str], ...] = ()


def identity(doc: Document) -> Identity | None:
    """The scope a document defines, when its kind (and org name) can be read."""
    data = doc.data
    if not isinstance(data, dict):
        return None
    kind = data.get("kind")
    scope = None
    if kind == HOST_KIND:
        scope = HOST_SCOPE
    elif kind == ORG_KIND:
        meta = data.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        # Only a valid name names a scope: "acme\n" or "Acme" must not become a second org.
        scope = org_scope(name) if isinstance(name, str) and is_dns_label(name) else None
    elif kind in TARGET_KINDS:  # a target's identity: unique by name among targets
        meta = data.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        scope = f"{TARGET_PREFIX}{name}" if isinstance(name, str) and is_dns_label(name) else None
    if scope is None:
        return None
    env_refs: tuple[tuple[str, int, int, str], ...] = ()
    if kind == ORG_KIND:
        env_refs = tuple(_claimable_env_refs(doc, scope[len(ORG_PREFIX) :]))
    return Identity(
        scope,
        doc.file,
        doc.pos(("metadata", "name")),
        doc.pos(("kind",)),
        doc.pos(())[0],
        env_refs,
    )


def _claimable_env_refs(doc: Document, owner: str) -> Iterator[tuple[str, int, int, str]]:
    """``owner``'s own env references with one more ``_`` after its prefix: the only ones
    another org (a longer prefix) could own."""
    data = doc.data if isinstance(doc.data, dict) else {}
    prefix = env_prefix(owner)
    for path, ref in _secret_refs(data.get("spec"), ("spec",)):
        name = ref.env
        if name is not None and name.startswith(prefix) and "_" in name[len(prefix) : -1]:
            line, col = doc.pos(path)
            yield name, line, col, json_path(path)


def secret_set_diagnostics(
    idents: Sequence[Identity], policy: SecretPolicy | None = None
) -> list[Diagnostic]:
    """``secret.scope`` across the set: an org's env var that another org of the set owns
    by a longer ``<ORG>_`` prefix (``ACME_CORP_X`` in ``acme`` while ``acme-corp``
    exists). An error on the referencing file; the reconcile refuses the same reference
    when it resolves (``SecretCache.know``)."""
    claiming = [i for i in idents if i.env_refs]
    if not claiming or (policy or active_policy()).shared:
        return []
    known = {i.scope for i in idents}
    out = []
    for ident in claiming:
        owner = ident.scope[len(ORG_PREFIX) :]
        for name, line, col, path in ident.env_refs:
            claimant = env_claimant(name, owner, (known,))
            if claimant is None:
                continue
            v = claimed_violation(name, owner, claimant)
            out.append(
                Diagnostic(ident.file, line, col, path, v.rule, Severity.ERROR, v.message, v.hint)
            )
    return out


def set_diagnostics(
    idents: Sequence[Identity], *, require_host: bool, where: str = "configs"
) -> list[Diagnostic]:
    """Duplicate identities across files; exactly one host (when a whole set is given)."""
    out: list[Diagnostic] = []
    first: dict[str, Identity] = {}
    hosts: list[Identity] = []
    for ident in idents:
        scope = ident.scope
        if scope == HOST_SCOPE:
            hosts.append(ident)
        if scope in first:
            if scope != HOST_SCOPE:
                other = first[scope]
                line, col = ident.name_pos
                out.append(
                    Diagnostic(
                        ident.file,
                        line,
                        col,
                        "$.metadata.name",
                        "set.duplicate",
                        Severity.ERROR,
                        f"{scope} is defined twice (also in {other.file}:{other.line})",
                        "target names are unique across OrchestratorTarget and WebhookTarget; "
                        "rename one"
                        if scope.startswith(TARGET_PREFIX)
                        else "keep one manifest per organization; remove or rename one",
                    )
                )
        else:
            first[scope] = ident
    for extra in hosts[1:]:
        line, col = extra.kind_pos
        out.append(
            Diagnostic(
                extra.file,
                line,
                col,
                "$.kind",
                "set.host-extra",
                Severity.ERROR,
                f"a second HostMailSettings (the first is in {hosts[0].file})",
                "exactly one host manifest may exist; merge them",
            )
        )
    if require_host and not hosts:
        out.append(
            Diagnostic(
                where,
                1,
                1,
                "$",
                "set.host-missing",
                Severity.ERROR,
                f"no HostMailSettings manifest in {where}",
                "add a host.yaml there (mode: default uses the platform defaults)",
            )
        )
    return out
