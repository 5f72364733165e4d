"""Redaction of secret values from any text mailctl shows, logs, stores or serves.

One :class:`Redactor` per process (``REDACTOR``) is fed by every ``SecretCache`` with each
value it resolves, for every scope — not only the one being probed — so a server that
echoes any tenant's credentials in a reply cannot get them into the CLI output, a log
line, a stored probe message or an HTTP response.

A value is masked in the forms a mail server can echo it in: as written, base64 encoded
on its own (AUTH LOGIN), inside a larger base64 blob at any byte alignment (the AUTH PLAIN
``\\0user\\0password`` blob, or any other prefix/suffix), and in any letter case (servers
that upper- or lower-case what they quote). Matching is one pass of an Aho-Corasick
automaton (pyahocorasick) over the case-folded text, so the cost grows with the text and
not with the number of secrets: a 10,000-tenant ``status`` is masked in one scan.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import ahocorasick

MASK = "***"
# Shorter values are not treated as secrets: masking "a" or "ab" everywhere would shred
# every line while protecting nothing worth protecting.
MIN_SECRET_LEN = 4
_MIN_FRAGMENT = 4  # shorter base64 fragments would match ordinary words


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
        if len(fragment) >= _MIN_FRAGMENT:
            out.add(fragment)
    return out


def variants(secret: str) -> set[str]:
    """Every form of ``secret`` to mask (case is handled by the matcher)."""
    if len(secret) < MIN_SECRET_LEN:
        return set()
    raw = secret.encode("utf-8", "surrogateescape")
    out = {secret, base64.b64encode(raw).decode("ascii")}
    out |= _b64_fragments(raw)
    return {v for v in out if len(v) >= _MIN_FRAGMENT}


class Redactor:
    """Masks every registered secret value (and its encodings) in text and structures.

    Thread-safe: the daemon's worker adds values while the HTTP thread redacts.
    """

    def __init__(self, values: Iterable[str | None] = (), *, mask: str = MASK) -> None:
        self.mask = mask
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._needles: set[str] = set()  # case-folded variants of every secret
        # An Aho-Corasick automaton over the needles, rebuilt (and swapped in whole) on
        # the first use after new secrets arrived: one pass over any text, whatever the
        # number of secrets.
        self._automaton: Any = None
        self._dirty = False
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
                self._needles.update(_fold(needle) for needle in variants(secret))
                self._secrets.add(secret)
            self._dirty = True

    def clear(self) -> None:
        with self._lock:
            self._secrets = set()
            self._needles = set()
            self._automaton = None
            self._dirty = False

    def _current(self) -> Any:
        if self._dirty:
            with self._lock:
                if self._dirty:
                    automaton = ahocorasick.Automaton()
                    for needle in self._needles:
                        automaton.add_word(needle, len(needle))
                    automaton.make_automaton()
                    self._automaton = automaton
                    self._dirty = False
        return self._automaton

    def __call__(self, text: str) -> str:
        return self.text(text)

    def text(self, text: str) -> str:
        if not self._secrets or len(text) < MIN_SECRET_LEN:
            return text
        automaton = self._current()
        if automaton is None:
            return text
        spans: list[list[int]] = []
        for end, length in automaton.iter(_fold(text)):
            start, stop = end - length + 1, end + 1
            spans.append([start, stop])
        if not spans:
            return text
        spans.sort()
        merged: list[list[int]] = [spans[0]]
        for start, stop in spans[1:]:
            if start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], stop)
            else:
                merged.append([start, stop])
        parts: list[str] = []
        last = 0
        for start, stop in merged:
            parts.append(text[last:start])
            parts.append(self.mask)
            last = stop
        parts.append(text[last:])
        return "".join(parts)

    def redact(self, value: Any) -> Any:
        """``value`` with every string inside (keys too) redacted; other leaves as is."""
        if not self._secrets:
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
