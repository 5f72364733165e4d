"""Secret references: contained, bounded, scoped to their tenant, never stored or shown.

Rules (DESIGN §8, user reference in ``docs/secrets.md``):

- **Roots.** ``{file: PATH}`` resolves inside the secret roots only (``--secrets-dir``,
  ``MAILCTL_SECRETS_DIRS``; default ``$CREDENTIALS_DIRECTORY``, else ``/run/secrets``). A
  relative PATH is relative to the first root; an absolute PATH must lie inside a root
  after resolving symlinks. Regular files only, opened non-blocking and checked with
  ``fstat`` before reading, at most 64 KiB, UTF-8, one trailing CR/LF stripped.
- **Environment.** Values must be non-empty, valid UTF-8 (``os.environ`` holds
  surrogate-escaped text for other bytes) and at most 64 KiB.
- **Tenant scoping.** A secret written in an org's own manifest (its *owner*) may only be
  an env var named ``<ORG>_*`` or a file under ``<root>/orgs/<name>/``; the host, the
  platform defaults and future targets may use any env var and any file under the roots.
  ``SecretPolicy.shared`` (``--shared-secrets``) turns scoping off.

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
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.errors import SecretError
from reconciler.model import ORG_PREFIX, SecretRef
from reconciler.redact import REDACTOR, Redactor

MAX_SECRET_BYTES = 64 * 1024
DEFAULT_ROOT = "/run/secrets"
PASSWORD_FIELD = "smtp.auth.password"
IMAP_PASSWORD_FIELD = "probe.confirm.imap.password"
# Kernel pseudo file systems: their "regular" files are generated on read.
PSEUDO_ROOTS = ("/proc", "/sys")
# mailctl's own variables are never a tenant's, whatever the org is called.
RESERVED_ENV_PREFIX = "MAILCTL_"
SCOPE_RULE = "secret.scope"
ROOTS_RULE = "secret.outside-roots"
_OPEN_FLAGS = (
    os.O_RDONLY
    | os.O_NONBLOCK
    | os.O_NOCTTY
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOFOLLOW", 0)
)


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


def check_ref(ref: SecretRef, owner: str | None, policy: SecretPolicy) -> Violation | None:
    """Whether ``owner`` (an org name, or ``None`` for host/platform/targets) may use
    ``ref`` under ``policy``. Reads no secret; resolves symlinks of file paths."""
    if ref.env is not None:
        return _check_env(ref.env, owner, policy)
    file = str(ref.file)
    return _check_file(file, locate(file, policy), owner, policy)


def _check_env(name: str, owner: str | None, policy: SecretPolicy) -> Violation | None:
    if owner is None or policy.shared:
        return None
    prefix = env_prefix(owner)
    if (
        name.startswith(prefix)
        and len(name) > len(prefix)
        and not name.startswith(RESERVED_ENV_PREFIX)
    ):
        return None
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


def _kind(mode: int) -> str | None:
    """What a non-regular file is, or ``None`` for a regular file."""
    if stat.S_ISREG(mode):
        return None
    for test, name in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _refuse(file: str, mode: int, size: int) -> None:
    kind = _kind(mode)
    if kind is not None:
        raise SecretError(
            f"secret file {file} is {kind}, not a regular file",
            hint="point the reference at a regular file holding the password",
        )
    if size > MAX_SECRET_BYTES:
        raise SecretError(
            f"secret file {file} is larger than {MAX_SECRET_BYTES // 1024} KiB",
            hint="the file should hold one password",
        )


def _read_bounded(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total < limit:
        chunk = os.read(fd, limit - total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _strip_one_newline(text: str) -> str:
    for ending in ("\r\n", "\n", "\r"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


def read_secret_file(file: str, real: str) -> str:
    """The value of ``{file: file}`` found at ``real`` (see ``locate``; the roots checks
    are the caller's): a regular file, bounded, UTF-8. Never blocks (FIFOs, devices),
    never reads more than 64 KiB + 1 byte."""
    try:
        _refuse(file, *_mode_size(os.lstat(real)))
        fd = os.open(real, _OPEN_FLAGS)
    except OSError as exc:
        raise SecretError(
            f"secret file {file} cannot be read: {exc.strerror}",
            hint="check the path and that mailctl's user may read it",
        ) from exc
    try:
        st = os.fstat(fd)
        _refuse(file, st.st_mode, st.st_size)
        data = _read_bounded(fd, MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise SecretError(
            f"secret file {file} cannot be read: {exc.strerror}",
            hint="check the path and that mailctl's user may read it",
        ) from exc
    finally:
        os.close(fd)
    if len(data) > MAX_SECRET_BYTES:
        raise SecretError(
            f"secret file {file} is larger than {MAX_SECRET_BYTES // 1024} KiB",
            hint="the file should hold one password",
        )
    if st.st_size == 0 and data:
        raise SecretError(
            f"secret file {file} is a generated (pseudo) file, not a regular file",
            hint="point the reference at a regular file holding the password",
        )
    try:
        value = _strip_one_newline(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SecretError(
            f"secret file {file} is not UTF-8 text", hint="store the password as UTF-8 text"
        ) from exc
    if not value:
        raise SecretError(f"secret file {file} is empty", hint="write the password into it")
    return value


def _mode_size(st: os.stat_result) -> tuple[int, int]:
    return st.st_mode, st.st_size


def read_secret_env(name: str, environ: Mapping[str, str]) -> str:
    value = environ.get(name)
    if value is None or value == "":
        raise SecretError(
            f"environment variable {name} is not set",
            hint=f"export {name} in the environment of mailctl (or its service unit)",
        )
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:  # surrogate-escaped bytes that are not UTF-8
        raise SecretError(
            f"environment variable {name} is not valid UTF-8",
            hint=f"set {name} to the password as UTF-8 text",
        ) from exc
    if size > MAX_SECRET_BYTES:
        raise SecretError(
            f"environment variable {name} is larger than {MAX_SECRET_BYTES // 1024} KiB",
            hint="it should hold one password",
        )
    return value


def resolve_secret(
    ref: SecretRef,
    environ: Mapping[str, str] | None = None,
    *,
    owner: str | None = None,
    policy: SecretPolicy | None = None,
) -> str:
    """The secret's value, after the roots and scoping checks. Raises ``SecretError``
    naming the reference, never a value."""
    pol = policy if policy is not None else active_policy()
    if ref.env is not None:
        violation = _check_env(ref.env, owner, pol)
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
    every sink of server text masks every scope's secrets, not only the probed one."""

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
            return _check_env(ref.env, owner, self._policy)
        return _check_file(str(ref.file), self._located(ref), owner, self._policy)

    def fingerprint(self, ref: SecretRef, owner: str | None) -> str:
        return fingerprint(self._key, self.value(ref, owner))

    def known_values(self) -> list[str]:
        """Every secret value resolved so far (for redaction of outputs)."""
        return [v for v in self._values.values() if isinstance(v, str)]
