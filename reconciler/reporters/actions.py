"""Text of the store actions that answer in one line: rollback, suspend and resume."""

from __future__ import annotations

from typing import Any

from reconciler.reporters import plural
from reconciler.reporters.escape import term


def render_rollback(payload: dict[str, Any]) -> str:
    hid, to_id, scopes = payload["history_id"], payload["to"], payload["scopes"]
    if hid is None:
        return f"Nothing to roll back: the store already matches #{to_id}."
    return f"Rolled back to #{to_id}: {plural(len(scopes), 'scope')} changed (history #{hid})."


def render_suspension(payload: dict[str, Any]) -> str:
    return f"Suspended: {term(payload['reason'])}" if payload["suspended"] else "Resumed."
