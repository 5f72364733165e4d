"""Secret references: contained, bounded, scoped to their tenant, never stored or shown.

Rules (DESIGN §8, user reference in ``docs/secrets.md``):

- **Roots.** ``{file: PATH}`` resolves inside the secret roots only (``--secrets-dir``,
  ``MAILCTL_SECRETS_DIRS``; default ``$CREDENTIALS_DIRECTORY``, else ``/run/secrets``). A
  relative PATH is relative to the first root; an absolute PATH must lie inside a root
  after resolving symlinks. Regular files only, opened non-blocking and checked with
  ``fstat`` before reading, at most 64 KiB, UTF-8, one trailing CR/LF stripped.
- **Environment.** Values must be non-empty, valid UTF-8 (``os.environ`` holds
  surrogate-escaped text for other bytes) and at most 64 KiB. (The bounded reads are
  :mod:`reconciler.secret_read`'s; this module decides what may be read.)
- **Tenant scoping.** A secret written in an org's own manifest (its *owner*) may only be
  an env var named ``<ORG>_*`` or a file under ``<root>/orgs/<name>/``; the host, the
  platform defaults and future targets may use any env var and any file under the roots.
  ``SecretPolicy.shared`` (``--shared-secrets``) turns scoping off.
- **Longest prefix wins.** ``ACME_CORP_SMTP_PASSWORD`` matches both ``ACME_*`` and
  ``ACME_CORP_*``: an env var belongs to the *known* org (one some file of the configs
  set names, valid or broken; when probing stored settings, one in the store) with the
  longest matching ``<ORG>_`` prefix (:func:`env_claimant`), so ``acme`` may not use it
  once ``acme-corp`` exists. Org names are DNS labels (no ``_``, no upper
  case), so ``<ORG>_`` is one-to-one: no two orgs share a prefix.

:func:`check_ref` applies the roots and scoping rules without reading anything (``validate``
uses it for its ``secret.scope`` / ``secret.outside-roots`` errors); :class:`SecretCache`
applies them again at resolve time, so a violating reference is never read. Every value
it resolves is fed to the process redactor.

A fingerprint is an HMAC-SHA256 of the value under a per-store random key: equal values give
equal fingerprints within one store (rotation detection, probe deduplication), and the
fingerprint reveals nothing usable outside it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.errors import SecretError
from reconciler.model import ORG_PREFIX, SecretRef, is_dns_label
from reconciler.redact import REDACTOR, Redactor
from reconciler.secret_read import MAX_SECRET_BYTES as MAX_SECRET_BYTES
from reconciler.secret_read import read_secret_env, read_secret_file

DEFAULT_ROOT = "/run/secrets"
PASSWORD_FIELD = "smtp.auth.password"
IMAP_PASSWORD_FIELD = "probe.confirm.imap.password"
# Kernel pseudo file systems: their "regular" files are generated on read.
PSEUDO_ROOTS = ("/proc", "/sys")
# mailctl's own variables are never a tenant's, whatever the org is called.
RESERVED_ENV_PREFIX = "MAILCTL_"
SCOPE_RULE = "secret.scope"
ROOTS_RULE = "secret.outside-roots"


@dataclass(frozen=True, slots=True)
class SecretPolicy:
    """Where file secrets may live and whether orgs are confined to their own."""

    roots: tuple[Path, ...]
    shared: bool = False
    # The roots with symlinks resolved (``/var/run`` → ``/run``), computed once.
    real_roots: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        real = tuple(os.path.realpath(r) for r in self.roots)
        object.__setattr__(self, "real_roots", real)

    @classmethod
    def from_settings(
        cls,
        dirs: Iterable[str | os.PathLike[str]] = (),
        shared: bool | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> SecretPolicy:
        """``dirs`` (``--secrets-dir``), else ``MAILCTL_SECRETS_DIRS`` (``:``-separated),
        else ``$CREDENTIALS_DIRECTORY``, else ``/run/secrets``; ``shared`` (``None``:
        ``MAILCTL_SHARED_SECRETS=1``)."""
        env = os.environ if environ is None else environ
        chosen = [os.fspath(d) for d in dirs if os.fspath(d)]
        if not chosen:
            chosen = [d for d in env.get("MAILCTL_SECRETS_DIRS", "").split(":") if d]
        if not chosen:
            chosen = [env.get("CREDENTIALS_DIRECTORY") or DEFAULT_ROOT]
        if shared is None:
            shared = env.get("MAILCTL_SHARED_SECRETS", "").strip().lower() in ("1", "true")
        return cls(tuple(Path(os.path.abspath(d)) for d in chosen), shared)

    def describe(self) -> str:
        return ", ".join(str(r) for r in self.roots)


_active: SecretPolicy | None = None


def set_policy(policy: SecretPolicy | None) -> None:
    """Set the policy of this process (the CLI does, from its options); ``None`` resets."""
    global _active
    _active = policy


def active_policy() -> SecretPolicy:
    return _active if _active is not None else SecretPolicy.from_settings()


def env_prefix(org: str) -> str:
    """``acme-corp`` → ``ACME_CORP_``: the env var names an org may use."""
    return org.upper().replace("-", "_") + "_"


def org_of_prefix(prefix: str) -> str | None:
    """``ACME_CORP_`` → ``acme-corp``: the one org name whose :func:`env_prefix` this is
    (org names are DNS labels, so the mapping is one-to-one), or ``None``."""
    stem = prefix[:-1]
    name = stem.lower().replace("_", "-")
    if not prefix.endswith("_") or stem != stem.upper() or not is_dns_label(name):
        return None
    return name


Known = Container[str]  # scope names ("org/acme-corp"): a set, a dict, a store's records


def env_claimant(name: str, owner: str, known: Iterable[Known]) -> str | None:
    """The known org, other than ``owner``, with a longer ``<ORG>_`` prefix of ``name``
    than ``owner``'s (the longest wins): ``ACME_CORP_X`` for owner ``acme`` is
    ``acme-corp``'s when ``org/acme-corp`` is known. ``None``: ``owner``'s own (or no
    prefix match at all, which the caller checks first). Costs one lookup per ``_``."""
    start = len(env_prefix(owner))
    containers = list(known)
    end = name.rfind("_", start, len(name) - 1)
    while end >= start:
        org = org_of_prefix(name[: end + 1])
        if org is not None and any(ORG_PREFIX + org in c for c in containers):
            return org
        end = name.rfind("_", start, end)
    return None


def shorter_prefix_orgs(scopes: Iterable[str], known: Known) -> set[str]:
    """The known org scopes whose ``<ORG>_`` prefix is a proper prefix of one of these org
    scopes' (``org/acme`` for ``org/acme-corp``): the orgs whose variables change owner
    when one of ``scopes`` appears or goes away."""
    out = set()
    for scope in scopes:
        if not scope.startswith(ORG_PREFIX):
            continue
        prefix = env_prefix(scope[len(ORG_PREFIX) :])
        end = prefix.find("_")
        while 0 <= end < len(prefix) - 1:
            org = org_of_prefix(prefix[: end + 1])
            if org is not None and ORG_PREFIX + org in known:
                out.add(ORG_PREFIX + org)
            end = prefix.find("_", end + 1)
    return out


def secret_owner(scope: str, sources: Mapping[str, str], field: str = PASSWORD_FIELD) -> str | None:
    """The org whose own manifest names the secret in ``field`` (the SMTP password or
    OAuth2 client secret by default; ``IMAP_PASSWORD_FIELD`` for delivery confirmation),
    or ``None`` when it comes from the host or the platform defaults (inherited)."""
    if scope.startswith(ORG_PREFIX) and sources.get(field, "org") == "org":
        return scope[len(ORG_PREFIX) :]
    return None


@dataclass(frozen=True, slots=True)
class Violation:
    """A reference the roots or tenant-scoping rules forbid (never read)."""

    rule: str
    message: str
    hint: str

    def error(self) -> SecretError:
        return SecretError(f"{self.message} [{self.rule}]", hint=self.hint)


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def locate(file: str, policy: SecretPolicy) -> str:
    """The absolute path a ``{file: ...}`` reference names, symlinks resolved."""
    path = file if os.path.isabs(file) else os.path.join(policy.roots[0], file)
    return os.path.realpath(path)


def check_ref(
    ref: SecretRef, owner: str | None, policy: SecretPolicy, known: Iterable[Known] = ()
) -> Violation | None:
    """Whether ``owner`` (an org name, or ``None`` for host/platform/targets) may use
    ``ref`` under ``policy``, ``known`` holding the scopes of the other orgs (see
    :func:`env_claimant`). Reads no secret; resolves symlinks of file paths."""
    if ref.env is not None:
        return _check_env(ref.env, owner, policy, known)
    file = str(ref.file)
    return _check_file(file, locate(file, policy), owner, policy)


def claimed_violation(name: str, owner: str, claimant: str) -> Violation:
    """``owner`` names ``claimant``'s variable (a longer prefix of ``name`` is theirs)."""
    theirs, mine = env_prefix(claimant), env_prefix(owner)
    return Violation(
        SCOPE_RULE,
        f"organization {owner} may not use {name}: it belongs to organization {claimant} "
        f"({theirs}* is the longest matching prefix)",
        f"rename the variable to a name that no other organization's prefix matches, e.g. "
        f"{mine}SMTP_PASSWORD, or use a file under <root>/orgs/{owner}/ (an env var belongs "
        "to the organization with the longest matching <ORG>_ prefix)",
    )


def _check_env(
    name: str, owner: str | None, policy: SecretPolicy, known: Iterable[Known] = ()
) -> Violation | None:
    if owner is None or policy.shared:
        return None
    prefix = env_prefix(owner)
    if (
        name.startswith(prefix)
        and len(name) > len(prefix)
        and not name.startswith(RESERVED_ENV_PREFIX)
    ):
        claimant = env_claimant(name, owner, known)
        return None if claimant is None else claimed_violation(name, owner, claimant)
    return Violation(
        SCOPE_RULE,
        f"organization {owner} may only use environment variables named {prefix}*, not {name}",
        f"rename the variable to e.g. {prefix}SMTP_PASSWORD (the host's and other "
        "organizations' secrets are off limits; --shared-secrets turns this off when one "
        "team owns every manifest)",
    )


def _check_file(file: str, real: str, owner: str | None, policy: SecretPolicy) -> Violation | None:
    roots = policy.real_roots
    if not any(_within(real, root) for root in roots) or any(
        _within(real, pseudo) for pseudo in PSEUDO_ROOTS
    ):
        via = f" (it resolves to {real})" if real != os.path.normpath(file) else ""
        return Violation(
            ROOTS_RULE,
            f"secret file {file} is outside the secret roots ({policy.describe()}){via}",
            "put the file under a secret root (e.g. systemd LoadCredential= or "
            "/run/secrets), or add its folder with --secrets-dir / MAILCTL_SECRETS_DIRS",
        )
    if owner is None or policy.shared:
        return None
    homes = [os.path.join(root, "orgs", owner) for root in roots]
    if any(real != home and _within(real, home) for home in homes):
        return None
    return Violation(
        SCOPE_RULE,
        f"organization {owner} may only use secret files under <root>/orgs/{owner}/, not {file}",
        f"move the file to {policy.roots[0] / 'orgs' / owner}/ and reference it as "
        f"{{file: orgs/{owner}/smtp}} (--shared-secrets turns this off when one team owns "
        "every manifest)",
    )


def resolve_secret(
    ref: SecretRef,
    environ: Mapping[str, str] | None = None,
    *,
    owner: str | None = None,
    policy: SecretPolicy | None = None,
    known: Iterable[Known] = (),
) -> str:
    """The secret's value, after the roots and scoping checks (``known``: the scopes of
    the other orgs, see :func:`env_claimant`). Raises ``SecretError`` naming the
    reference, never a value."""
    pol = policy if policy is not None else active_policy()
    if ref.env is not None:
        violation = _check_env(ref.env, owner, pol, known)
        if violation is not None:
            raise violation.error()
        return read_secret_env(ref.env, os.environ if environ is None else environ)
    file = str(ref.file)
    real = locate(file, pol)
    violation = _check_file(file, real, owner, pol)
    if violation is not None:
        raise violation.error()
    return read_secret_file(file, real)


def fingerprint(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


class SecretCache:
    """Resolves each reference once per run (per owner); remembers failures as errors.

    Every value it resolves goes to ``redactor`` (the process redactor by default), so
    every sink of server text masks every scope's secrets, not only the probed one.
    :meth:`know` tells it which orgs exist (the configs set, the store): an env var with
    a longer known org's prefix than its owner's is refused (:func:`env_claimant`)."""

    def __init__(
        self,
        key: bytes,
        environ: Mapping[str, str] | None = None,
        *,
        policy: SecretPolicy | None = None,
        redactor: Redactor = REDACTOR,
    ) -> None:
        self._key = key
        self._environ = environ
        self._policy = policy if policy is not None else active_policy()
        self._redactor = redactor
        self._values: dict[SecretRef, str | SecretError] = {}
        self._allowed: dict[tuple[SecretRef, str | None], SecretError | None] = {}
        self._real: dict[SecretRef, str] = {}  # file refs: path with symlinks resolved
        self._known: list[Known] = []

    def know(self, *scopes: Known) -> None:
        """Add containers of known scope names (only ever stricter: a decision taken
        before is forgotten, so a variable another org turned out to own is refused)."""
        added = [c for c in scopes if not any(c is k for k in self._known)]
        if added:
            self._known.extend(added)
            self._allowed.clear()

    @property
    def policy(self) -> SecretPolicy:
        return self._policy

    def value(self, ref: SecretRef, owner: str | None) -> str:
        """``ref``'s value for a manifest of ``owner`` (org name; ``None``: host/platform)."""
        key = (ref, owner)
        if key not in self._allowed:
            violation = self._check(ref, owner)
            self._allowed[key] = violation.error() if violation is not None else None
        denied = self._allowed[key]
        if denied is not None:
            raise denied
        if ref not in self._values:
            try:
                if ref.env is not None:
                    env = os.environ if self._environ is None else self._environ
                    self._values[ref] = read_secret_env(ref.env, env)
                else:
                    self._values[ref] = read_secret_file(str(ref.file), self._located(ref))
            except SecretError as exc:
                self._values[ref] = exc
        got = self._values[ref]
        if isinstance(got, SecretError):
            raise got
        self._redactor.add([got])
        return got

    def _located(self, ref: SecretRef) -> str:
        real = self._real.get(ref)
        if real is None:
            real = self._real[ref] = locate(str(ref.file), self._policy)
        return real

    def _check(self, ref: SecretRef, owner: str | None) -> Violation | None:
        if ref.env is not None:
            return _check_env(ref.env, owner, self._policy, self._known)
        return _check_file(str(ref.file), self._located(ref), owner, self._policy)

    def fingerprint(self, ref: SecretRef, owner: str | None) -> str:
        return fingerprint(self._key, self.value(ref, owner))

    def known_values(self) -> list[str]:
        """Every secret value resolved so far (for redaction of outputs)."""
        return [v for v in self._values.values() if isinstance(v, str)]
