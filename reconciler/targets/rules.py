"""Semantic rules of target manifests beyond their schemas (rule ids ``target.*``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from reconciler.diagnostics import PathT, Rule, Severity
from reconciler.net import is_loopback


def _insecure(url: str) -> str | None:
    """``None`` when ``url`` is https, or http to a loopback address; else what it is."""
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname or ""
    except ValueError:
        return url
    if scheme == "https" or (scheme == "http" and is_loopback(host)):
        return None
    return f"{scheme}://{host}"


def _urls(spec: dict[str, Any]) -> Iterator[tuple[PathT, str, str]]:
    for key in ("url", "tokenUrl"):
        value = spec.get(key)
        if not isinstance(value, str):
            continue
        bad = _insecure(value)
        if bad is not None:
            what = "the client secret and the token" if key == "tokenUrl" else "settings"
            yield (
                ("spec", key),
                f"{key} {bad} is not https: {what} would travel in clear text",
                "use https:// (plain http:// is allowed only to a loopback address)",
            )


TARGET_RULES: tuple[Rule, ...] = (Rule("target.url-insecure", Severity.ERROR, _urls),)
