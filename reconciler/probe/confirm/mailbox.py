"""What a confirmation backend (``imap``, ``maildir``) shares with the confirmation loop:
the ``Mailbox`` protocol, what it finds, and its own failure classes. Its own module, so
the backends import it without importing the package that picks them."""

from __future__ import annotations

import dataclasses
from typing import Literal, Protocol

from reconciler.probe.classes import FailureClass as F

CONFIRM_AUTH_REJECTED = F.CONFIRM_AUTH_REJECTED
CONFIRM_MAILBOX = F.CONFIRM_MAILBOX

Where = Literal["inbox", "junk"]


@dataclasses.dataclass(frozen=True, slots=True)
class Found:
    """A probe message found in a mailbox; ``handle`` is backend-specific."""

    where: Where
    folder: str
    handle: tuple[str, ...]


class Mailbox(Protocol):
    """A confirmation backend. Raises ``C.Failure`` (stage ``confirm``) on errors."""

    def describe(self) -> str: ...

    async def open(self) -> None: ...

    async def find(self, probe_id: str) -> Found | None: ...

    async def remove(self, found: Found) -> None: ...

    async def close(self) -> None: ...
