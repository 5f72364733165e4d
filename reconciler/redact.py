"""Redaction of secret values from any text mailctl shows, logs, stores or serves.

One :class:`Redactor` per process (``REDACTOR``) is fed by every ``SecretCache`` with each
value it resolves, for every scope — not only the one being probed — so a server that
echoes any tenant's credentials in a reply cannot get them into the CLI output, a log
line, a stored probe message or an HTTP response.

A value is masked in the forms a mail server can echo it in: as written, base64 encoded
on its own (AUTH LOGIN), inside a larger base64 blob at any byte alignment (the AUTH PLAIN
``\\0user\\0password`` blob, or any other prefix/suffix), and in any letter case (servers
that upper- or lower-case what they quote). Matching is a single left-to-right scan over
the text, indexed by the needles' first characters, so the cost grows with the text and
not with the number of secrets: adding a secret costs only its own variants, and a text
is scanned once, position by position, with a set lookup per distinct needle length
where a needle's first four characters occur.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
# Shorter values are not treated as secrets: masking "a" or "ab" everywhere would shred
# every line while protecting nothing worth protecting.
MIN_SECRET_LEN = 4
_KEY_LEN = 4  # needles are indexed by their first four (case-folded) characters


def _fold(text: str) -> str:
    """Lower-case without changing the length (index positions must stay aligned)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def _b64_fragments(value: bytes) -> set[str]:
    """Base64 text that ``value`` produces at every alignment inside a larger blob."""
    out: set[str] = set()
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + value).decode("ascii").rstrip("=")
        # Drop the characters that also depend on the unknown prefix and suffix bytes.
        lead = (pad * 8 + 5) // 6
        core_chars = (pad * 8 + len(value) * 8) // 6
        fragment = encoded[lead:core_chars]
        if len(fragment) >= _KEY_LEN:
            out.add(fragment)
    return out


def variants(secret: str) -> set[str]:
    """Every form of ``secret`` to mask (case is handled by the matcher)."""
    if len(secret) < MIN_SECRET_LEN:
        return set()
    raw = secret.encode("utf-8", "surrogateescape")
    out = {secret, base64.b64encode(raw).decode("ascii")}
    out |= _b64_fragments(raw)
    return {v for v in out if len(v) >= _KEY_LEN}


class Redactor:
    """Masks every registered secret value (and its encodings) in text and structures.

    Thread-safe: the daemon's worker adds values while the HTTP thread redacts.
    """

    def __init__(self, values: Iterable[str | None] = (), *, mask: str = MASK) -> None:
        self.mask = mask
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        # Needles (case-folded) grouped by length, plus the set of their first four
        # characters as a cheap filter. Updated in place (set.add is atomic), so adding a
        # secret costs its own variants, never a copy of everything registered before.
        self._prefixes: set[str] = set()
        self._by_len: dict[int, set[str]] = {}
        self._lengths: tuple[int, ...] = ()  # longest first
        self.add(values)

    def __len__(self) -> int:
        return len(self._secrets)

    def add(self, values: Iterable[str | None]) -> None:
        known = self._secrets
        new = [v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LEN]
        new = [v for v in new if v not in known]
        if not new:
            return
        with self._lock:
            for secret in new:
                for needle in variants(secret):
                    folded = _fold(needle)
                    size = len(folded)
                    bucket = self._by_len.get(size)
                    if bucket is None:
                        bucket = self._by_len[size] = set()
                        self._lengths = tuple(sorted(self._by_len, reverse=True))
                    bucket.add(folded)
                    self._prefixes.add(folded[:_KEY_LEN])
                self._secrets.add(secret)

    def clear(self) -> None:
        with self._lock:
            self._secrets = set()
            self._prefixes = set()
            self._by_len = {}
            self._lengths = ()

    def __call__(self, text: str) -> str:
        return self.text(text)

    def text(self, text: str) -> str:
        lengths = self._lengths
        if not lengths or len(text) < _KEY_LEN:
            return text
        prefixes, by_len = self._prefixes, self._by_len
        folded = _fold(text)
        size = len(folded)
        spans: list[tuple[int, int]] = []
        end_covered = -1
        for i in range(size - _KEY_LEN + 1):
            if folded[i : i + _KEY_LEN] not in prefixes:
                continue
            for length in lengths:  # longest match first
                stop = i + length
                if stop > size or folded[i:stop] not in by_len[length]:
                    continue
                if spans and i <= end_covered:
                    if stop > end_covered:
                        spans[-1] = (spans[-1][0], stop)
                        end_covered = stop
                else:
                    spans.append((i, stop))
                    end_covered = stop
                break
        if not spans:
            return text
        parts: list[str] = []
        last = 0
        for start, stop in spans:
            parts.append(text[last:start])
            parts.append(self.mask)
            last = stop
        parts.append(text[last:])
        return "".join(parts)

    def redact(self, value: Any) -> Any:
        """``value`` with every string inside (keys too) redacted; other leaves as is."""
        if not self._lengths:
            return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self._walk(k): self._walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._walk(v) for v in value]
        if isinstance(value, bool | int | float) or value is None:
            return value
        return self.text(str(value))


# The process-wide redactor: every SecretCache feeds it, every sink of text uses it.
REDACTOR = Redactor()


def redact_text(text: str) -> str:
    return REDACTOR.text(text)


def redact_bytes(body: bytes) -> bytes:
    """UTF-8 bytes (an HTTP body) with every known secret masked; other bytes kept."""
    if not len(REDACTOR):
        return body
    text = body.decode("utf-8", "surrogateescape")
    cleaned = REDACTOR.text(text)
    return body if cleaned == text else cleaned.encode("utf-8", "surrogateescape")
