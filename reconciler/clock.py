"""The one clock: UTC timestamps as the store, the outputs and the probe write them."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> str:
    """ISO-8601 UTC with seconds precision (``2024-05-01T12:00:00Z``): store times."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_now_ms() -> str:
    """ISO-8601 UTC with milliseconds (``2024-05-01T12:00:00.123Z``): probe results."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
