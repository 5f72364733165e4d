"""Secret references: resolved only when needed, fingerprinted, never stored or shown.

A fingerprint is an HMAC-SHA256 of the value under a per-store random key: equal values give
equal fingerprints within one store (rotation detection, probe deduplication), and the
fingerprint reveals nothing usable outside it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from pathlib import Path

from reconciler.errors import SecretError
from reconciler.model import SecretRef
from reconciler.redact import REDACTOR, Redactor

MAX_SECRET_BYTES = 64 * 1024


def resolve_secret(ref: SecretRef, environ: Mapping[str, str] | None = None) -> str:
    """The secret's value. Raises ``SecretError`` naming the reference, never a value."""
    env = os.environ if environ is None else environ
    if ref.env is not None:
        value = env.get(ref.env)
        if value is None or value == "":
            raise SecretError(
                f"environment variable {ref.env} is not set",
                hint=f"export {ref.env} in the environment of mailctl (or its service unit)",
            )
        return value
    path = Path(str(ref.file))
    try:
        data = path.read_bytes()[: MAX_SECRET_BYTES + 1]
    except OSError as exc:
        raise SecretError(
            f"secret file {path} cannot be read: {exc.strerror}",
            hint="check the path and that mailctl's user may read it",
        ) from exc
    if len(data) > MAX_SECRET_BYTES:
        raise SecretError(f"secret file {path} is too large", hint="it should hold one password")
    try:
        value = data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise SecretError(
            f"secret file {path} is not UTF-8 text", hint="store the password as text"
        ) from exc
    if not value:
        raise SecretError(f"secret file {path} is empty", hint="write the password into it")
    return value


def fingerprint(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


class SecretCache:
    """Resolves each reference once per run; remembers failures as messages."""

    def __init__(
        self,
        key: bytes,
        environ: Mapping[str, str] | None = None,
        *,
        redactor: Redactor = REDACTOR,
    ) -> None:
        self._key = key
        self._redactor = redactor
        self._environ = environ
        self._values: dict[SecretRef, str] = {}
        self._errors: dict[SecretRef, SecretError] = {}

    def value(self, ref: SecretRef) -> str:
        if ref in self._errors:
            raise self._errors[ref]
        if ref not in self._values:
            try:
                self._values[ref] = resolve_secret(ref, self._environ)
                self._redactor.add([self._values[ref]])
            except SecretError as exc:
                self._errors[ref] = exc
                raise
        return self._values[ref]

    def fingerprint(self, ref: SecretRef) -> str:
        return fingerprint(self._key, self.value(ref))

    def known_values(self) -> list[str]:
        """Every secret value resolved so far (for redaction of outputs)."""
        return list(self._values.values())
