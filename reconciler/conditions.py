"""Kubernetes-style conditions per scope: ``Ready``, ``Stalled``, ``Reconciling``."""

from __future__ import annotations

from typing import Any

Conditions = dict[str, dict[str, str]]


def _c(status: bool, reason: str, message: str) -> dict[str, str]:
    return {"status": "True" if status else "False", "reason": reason, "message": message}


def applied(revision: str) -> Conditions:
    """Applied; the probe has not spoken yet (or is off)."""
    msg = f"applied revision {revision}"
    return {
        "Ready": _c(True, "Applied", msg),
        "Stalled": _c(False, "Applied", ""),
        "Reconciling": _c(False, "Applied", ""),
    }


def stalled(reason: str, message: str) -> Conditions:
    return {
        "Ready": _c(False, reason, message),
        "Stalled": _c(True, reason, message),
        "Reconciling": _c(False, reason, ""),
    }


def gating(message: str) -> Conditions:
    """New settings wait for their gate probe; the previous ones stay in effect."""
    return {
        "Ready": _c(False, "GateProbing", message),
        "Stalled": _c(False, "GateProbing", ""),
        "Reconciling": _c(True, "GateProbing", message),
    }


def for_held(reason: str, message: str) -> Conditions:
    """Conditions of a held scope: Stalled, except while a gate probe decides it."""
    return gating(message) if reason == "GateProbing" else stalled(reason, message)


def from_probe(result: dict[str, Any]) -> Conditions:
    if result.get("status") == "passed":
        ready = _c(True, "ProbePassed", f"probe {result.get('probe_id')} passed")
    else:
        ready = _c(
            False,
            "ProbeFailed",
            f"{result.get('class')} at {result.get('stage')}: {result.get('message')}",
        )
    return {
        "Ready": ready,
        "Stalled": _c(False, ready["reason"], ""),
        "Reconciling": _c(False, ready["reason"], ""),
    }


def is_ready(conditions: Conditions) -> bool:
    return conditions.get("Ready", {}).get("status") == "True"


def is_gating(conditions: Conditions) -> bool:
    return conditions.get("Reconciling", {}).get("reason") == "GateProbing" and (
        conditions.get("Reconciling", {}).get("status") == "True"
    )


def is_stalled(conditions: Conditions) -> bool:
    return conditions.get("Stalled", {}).get("status") == "True"


def settled(previous: Conditions, revision: str) -> Conditions:
    """Conditions of an unchanged, valid scope: keep a probe verdict, clear a stall."""
    if not is_stalled(previous) and previous.get("Ready", {}).get("reason") in (
        "ProbePassed",
        "ProbeFailed",
        "Applied",
    ):
        return previous
    return applied(revision)
