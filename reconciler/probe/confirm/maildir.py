"""Confirmation in a local Maildir (``probe.confirm.maildir``): local delivery, the demo sink.

The message is looked for in ``new/`` and ``cur/`` of the Maildir (``inbox``) and of its
Maildir++ junk folder ``.Junk`` (``junk``), by reading at most the first 64 KiB of each
file not seen before and matching the ``X-Mailctl-Probe`` header in the header block.
Removal deletes the file. A Maildir that does not exist (yet) holds no message.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from reconciler.probe import classify as C
from reconciler.probe.confirm.mailbox import CONFIRM_MAILBOX, Found, Where

HEAD_BYTES = 64 * 1024
JUNK_FOLDER = ".Junk"


def _header_block(data: bytes) -> bytes:
    for sep in (b"\r\n\r\n", b"\n\n"):
        end = data.find(sep)
        if end != -1:
            return data[:end]
    return data


class MaildirMailbox:
    """The ``Mailbox`` protocol over a Maildir folder."""

    def __init__(self, path: str) -> None:
        self.root = Path(path)
        self._seen: set[str] = set()

    def describe(self) -> str:
        return f"maildir {self.root}"

    async def open(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise C.Failure(CONFIRM_MAILBOX, f"{self.root} is not a Maildir folder")

    def _scan(self, probe_id: str) -> Found | None:
        pattern = re.compile(
            rb"^X-Mailctl-Probe:[ \t]*" + re.escape(probe_id.encode("ascii")) + rb"[ \t]*\r?$",
            re.IGNORECASE | re.MULTILINE,
        )
        folders: tuple[tuple[Where, Path], ...] = (
            ("inbox", self.root),
            ("junk", self.root / JUNK_FOLDER),
        )
        for where, folder in folders:
            for sub in ("new", "cur"):
                directory = folder / sub
                try:
                    entries = list(os.scandir(directory))
                except (FileNotFoundError, NotADirectoryError):
                    continue
                except OSError as exc:
                    raise C.Failure(
                        CONFIRM_MAILBOX, f"cannot read {directory}: {exc.strerror}"
                    ) from None
                for entry in entries:
                    if entry.path in self._seen or not entry.is_file(follow_symlinks=False):
                        continue
                    try:
                        with open(entry.path, "rb") as fh:
                            head = fh.read(HEAD_BYTES)
                    except FileNotFoundError:  # moved new/ -> cur/ meanwhile
                        continue
                    except OSError as exc:
                        raise C.Failure(
                            CONFIRM_MAILBOX, f"cannot read {entry.path}: {exc.strerror}"
                        ) from None
                    self._seen.add(entry.path)
                    if pattern.search(_header_block(head)):
                        name = "INBOX" if where == "inbox" else JUNK_FOLDER
                        return Found(where, name, (entry.path,))
        return None

    async def find(self, probe_id: str) -> Found | None:
        return await asyncio.to_thread(self._scan, probe_id)

    async def remove(self, found: Found) -> None:
        for path in found.handle:
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise C.Failure(
                    CONFIRM_MAILBOX, f"cannot remove the probe message {path}: {exc.strerror}"
                ) from None

    async def close(self) -> None:
        return None
