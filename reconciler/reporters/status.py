"""Rendering of status, effective settings, probe results and history."""

from __future__ import annotations

import json
from typing import Any

from reconciler.reporters import style


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
    return (head[:12] if len(head) == 40 else head) + ("-dirty" if dirty else "")


def render_status(payload: dict[str, Any], *, color: bool) -> str:
    lines = [f"revision: {_short(payload['revision'])}"]
    if payload["suspended"]:
        s = payload["suspend"]
        lines.append(
            style(f"SUSPENDED since {s['at']} by {s['by']}: {s['reason']}", color, fg="yellow")
        )
    rows = [["SCOPE", "MODE", "READY", "REASON", "APPLIED", "PROBE", "SOURCE"]]
    not_ready = 0
    for sc in payload["scopes"]:
        ready = sc["conditions"].get("Ready", {})
        probe = sc["probe"]
        probe_text = "-"
        if probe:
            probe_text = probe["status"]
            if probe["status"] != "passed":
                probe_text += f" ({probe['class']} at {probe['stage']})"
        if ready.get("status") != "True":
            not_ready += 1
        rows.append(
            [
                sc["scope"],
                sc["mode"],
                ready.get("status", "Unknown"),
                ready.get("reason", ""),
                _short(sc["lastAppliedRevision"]),
                probe_text,
                sc["source"] or "-",
            ]
        )
    lines.append(_table(rows) if len(rows) > 1 else "no scopes applied yet")
    for sc in payload["scopes"]:
        stalled = sc["conditions"].get("Stalled", {})
        if stalled.get("status") == "True":
            lines.append(f"  {sc['scope']}: Stalled ({stalled['reason']}): {stalled['message']}")
    total = len(payload["scopes"])
    lines.append(f"{total - not_ready}/{total} scopes ready.")
    return "\n".join(lines)


def render_effective(payload: dict[str, Any]) -> str:
    lines = [f"{payload['scope']} (mode {payload['mode']}, from {payload['source']})"]
    rows = [["FIELD", "VALUE", "SOURCE"]]
    for field, value in payload["settings"].items():
        shown = "-" if value is None else json.dumps(value)
        rows.append([field, shown, payload["sources"].get(field) or "-"])
    lines.append(_table(rows))
    return "\n".join(lines)


def render_probes(outcomes: list[dict[str, Any]]) -> str:
    if not outcomes:
        return "Nothing to probe."
    lines = []
    for o in outcomes:
        scopes = o["scopes"]
        who = ", ".join(scopes[:3]) + (f" (+{len(scopes) - 3} more)" if len(scopes) > 3 else "")
        total = sum(o.get("latency_ms", {}).values())
        if o["status"] == "passed":
            lines.append(f"passed  {o['endpoint']}  {who}  ({total:.0f} ms, {o['message']})")
        else:
            code = f" {o['code']}" if o.get("code") else ""
            what = f"{o['class']} at {o['stage']}{code}"
            lines.append(f"FAILED  {o['endpoint']}  {who}: {what}: {o['message']}")
            if o.get("hint"):
                lines.append(f"        hint: {o['hint']}")
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
            [str(e["id"]), e["at"], e["kind"], _short(e["revision"]), e["actor"], e["summary"]]
        )
    return _table(rows)
