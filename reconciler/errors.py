"""Typed errors and exit codes.

Every failure that reaches a user is one of these; library exceptions (sqlite3, aiosmtplib,
ssl, OSError, yaml) are wrapped with ``raise ... from exc`` where they happen, so the CLI's
single error boundary only has to map this hierarchy to an exit code and one line.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    CHANGES = 2  # plan/diff --detailed-exitcode: changes present
    DEGRADED = 3  # applied but probes failed / scopes held / not ready


class MailctlError(Exception):
    """Base class. ``hint`` says what to do about it; ``exit_code`` what the CLI returns."""

    exit_code: ExitCode = ExitCode.ERROR
    stage: str = "mailctl"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(MailctlError):
    stage = "usage"


class ConfigError(MailctlError):
    """The configs folder or a manifest cannot be used (beyond per-file diagnostics)."""

    stage = "configs"


class SecretError(MailctlError):
    """A secret reference cannot be resolved. Never carries the secret value."""

    stage = "secret"


class StoreError(MailctlError):
    stage = "store"


class StoreLockedError(StoreError):
    """Another applier holds the store's write lock beyond the timeout."""


class StoreFencedError(StoreError):
    """This process no longer holds the leader lease of a shared store (its fencing token is
    stale): the write transaction was refused and rolled back."""


class StoreCorruptError(StoreError):
    pass


class StoreLostError(StoreError):
    """The store file was deleted or replaced under a running mailctl."""


class GitError(MailctlError):
    stage = "git"


class ProbeError(MailctlError):
    stage = "probe"


class UnknownScopeError(MailctlError):
    stage = "scope"


class NotSuspendedError(MailctlError):
    stage = "rollback"


class TargetError(MailctlError):
    """A target refused or could not be reached (DESIGN §12). ``reason`` is the ``Synced``
    condition's reason (``Forbidden``, ``Throttled``, ``Timeout``, ...); the message never
    carries a secret or a token."""

    stage = "target"

    def __init__(self, reason: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason
