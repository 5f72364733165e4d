"""Rendering of status, effective settings, probe results and history."""

from __future__ import annotations

import json
from typing import Any

from reconciler.reporters import style
from reconciler.reporters.escape import term


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _short(rev: str | None) -> str:
    if not rev:
        return "-"
    head, dirty, _ = rev.partition("-dirty")
    return term((head[:12] if len(head) == 40 else head) + ("-dirty" if dirty else ""))


def _delivery(probe: dict[str, Any]) -> str:
    """``delivered 412 ms`` / ``delivered_junk 3.1 s``."""
    ms = probe.get("deliveryMs")
    if ms is None:
        return str(probe["delivery"])
    took = f"{ms:.0f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"
    return f"{probe['delivery']} {took}"


def render_status(payload: dict[str, Any], *, color: bool) -> str:
    lines = [f"revision: {_short(payload['revision'])}"]
    if payload["suspended"]:
        s = payload["suspend"]
        text = f"SUSPENDED since {term(s['at'])} by {term(s['by'])}: {term(s['reason'])}"
        lines.append(style(text, color, fg="yellow"))
    rows = [["SCOPE", "MODE", "READY", "REASON", "APPLIED", "PROBE", "SOURCE"]]
    not_ready = 0
    for sc in payload["scopes"]:
        ready = sc["conditions"].get("Ready", {})
        probe = sc["probe"]
        probe_text = "-"
        if probe:
            probe_text = term(probe["status"])
            if probe["status"] != "passed":
                probe_text += f" ({term(probe['class'])} at {term(probe['stage'])})"
            elif probe.get("delivery"):
                probe_text += f" ({term(_delivery(probe))})"
        if ready.get("status") != "True":
            not_ready += 1
        applied = _short(sc["lastAppliedRevision"]) if sc.get("applied", True) else "never"
        rows.append(
            [
                term(sc["scope"]),
                term(sc["mode"] or "-"),
                term(ready.get("status", "Unknown")),
                term(ready.get("reason", "")),
                "removed" if sc.get("removed") else applied,
                probe_text,
                term(sc["source"] or "-"),
            ]
        )
    lines.append(_table(rows) if len(rows) > 1 else "no scopes applied yet")
    for sc in payload["scopes"]:
        stalled = sc["conditions"].get("Stalled", {})
        if stalled.get("status") == "True":
            what = "Stalled" if sc.get("applied", True) else "Held, never applied"
            lines.append(
                f"  {term(sc['scope'])}: {what} ({term(stalled['reason'])}): "
                f"{term(stalled['message'])}"
            )
        if sc.get("removed"):
            lines.append(
                f"  {term(sc['scope'])}: removed, a target still waits for its hand-back: "
                f"{term(sc['conditions']['Ready']['message'])}"
            )
    invalid = payload.get("invalidFiles") or []
    for bad in invalid:
        lines.append(f"  {term(bad['file'])}: invalid, names no scope: {term(bad['message'])}")
    if payload.get("targets"):
        from reconciler.reporters.targets import render_status_targets

        lines.extend(render_status_targets(payload["targets"]))
    removed = sum(1 for sc in payload["scopes"] if sc.get("removed"))
    total = len(payload["scopes"]) - removed
    summary = f"{total - not_ready + removed}/{total} scopes ready."
    if removed:
        summary += f" {removed} removed scope{'s' if removed != 1 else ''} not yet handed back."
    if invalid:
        n = len(invalid)
        summary += f" {n} invalid file{'s' if n != 1 else ''} naming no scope."
    lines.append(summary)
    return "\n".join(lines)


def render_effective(payload: dict[str, Any]) -> str:
    what = "in effect" if payload.get("view", "applied") == "applied" else "desired (configs)"
    lines = [
        f"{term(payload['scope'])} {what} (mode {term(payload['mode'])}, "
        f"from {term(payload['source'])})"
    ]
    rows = [["FIELD", "VALUE", "SOURCE"]]
    for field, value in payload["settings"].items():
        shown = "-" if value is None else term(json.dumps(value))
        rows.append([field, shown, term(payload["sources"].get(field) or "-")])
    lines.append(_table(rows))
    differs = payload.get("differs")
    if differs is not None:
        label = {"pending": "pending", "held": "held", "gate_failed": "gate failed"}
        lines.append(
            f"Differs from the {'configs' if what == 'in effect' else 'store'}: "
            f"{label.get(differs['reason'], term(differs['reason']))}: {term(differs['message'])}"
        )
    elif payload.get("inSync"):
        lines.append("In effect as configured.")
    for name, c in (payload.get("conditions") or {}).items():  # Synced/<target>
        why = f"({term(c['reason'])}): {term(c['message'])}"
        lines.append(f"{term(name)}: {term(c['status'])} {why}")
    return "\n".join(lines)


def render_probes(outcomes: list[dict[str, Any]]) -> str:
    if not outcomes:
        return "Nothing to probe."
    lines = []
    for o in outcomes:
        scopes = o["scopes"]
        who = ", ".join(scopes[:3]) + (f" (+{len(scopes) - 3} more)" if len(scopes) > 3 else "")
        total = sum(o.get("latency_ms", {}).values())
        endpoint, message = term(o["endpoint"]), term(o["message"])
        if o["status"] == "passed":
            lines.append(f"passed  {endpoint}  {who}  ({total:.0f} ms, {message})")
        else:
            code = f" {term(o['code'])}" if o.get("code") else ""
            what = f"{term(o['class'])} at {term(o['stage'])}{code}"
            lines.append(f"FAILED  {endpoint}  {who}: {what}: {message}")
            if o.get("hint"):
                lines.append(f"        hint: {term(o['hint'])}")
    passed = sum(1 for o in outcomes if o["status"] == "passed")
    lines.append(f"{passed}/{len(outcomes)} probes passed.")
    return "\n".join(lines)


def render_history(payload: dict[str, Any]) -> str:
    entries = payload["entries"]
    if not entries:
        return "No history yet."
    rows = [["ID", "AT", "KIND", "REVISION", "ACTOR", "SUMMARY"]]
    for e in entries:
        rows.append(
            [
                str(e["id"]),
                term(e["at"]),
                term(e["kind"]),
                _short(e["revision"]),
                term(e["actor"]),
                term(e["summary"]),
            ]
        )
    return _table(rows)
