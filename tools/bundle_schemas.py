"""Generate self-contained host/org schemas from ``schemas/defs.schema.json``.

``defs.schema.json`` is the one source of truth for the shared definitions (``mailSpec`` and
its aliases). The host and org schemas refer to them as ``defs.schema.json#/$defs/<name>``
(or, once generated, ``#/$defs/<name>``). This tool *flattens* them: every definition the
document reaches is copied into its own top-level ``$defs`` and every reference is rewritten
to ``#/$defs/<name>``. There is no embedded resource with an ``$id`` of its own, so a
``#/$defs/...`` reference means the same thing to every consumer: python-jsonschema,
check-jsonschema and yaml-language-server (which resolves ``#`` against the outer document
and so cannot follow references inside an embedded resource). Editors need nothing but the
one file, offline.

    python tools/bundle_schemas.py           # rewrite schemas/host.schema.json, org.schema.json
    python tools/bundle_schemas.py --check   # exit 1 when they are out of date (CI, tests)

The parts of host/org outside ``$defs`` are hand-written; ``$defs`` is generated (edits there
are overwritten: edit ``defs.schema.json`` instead).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
DEFS_FILE = "defs.schema.json"
TARGETS = ("host.schema.json", "org.schema.json")
_PREFIXES = (f"{DEFS_FILE}#/$defs/", "#/$defs/")


class BundleError(Exception):
    """A reference the bundler cannot make local (another file, or an unknown definition)."""


def _local(ref: str) -> str | None:
    """``defs.schema.json#/$defs/a/b`` or ``#/$defs/a/b`` -> ``a/b``; anything else -> None."""
    for prefix in _PREFIXES:
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return None


def _rewrite(node: Any, found: set[str], where: str) -> Any:
    """A copy of ``node`` with every reference into the shared definitions made local."""
    if isinstance(node, list):
        return [_rewrite(item, found, where) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            tail = _local(value)
            if tail is None:
                raise BundleError(f"{where}: $ref {value!r} is neither local nor into {DEFS_FILE}")
            found.add(tail.split("/", 1)[0])
            out[key] = f"#/$defs/{tail}"
        else:
            out[key] = _rewrite(value, found, where)
    return out


def bundled(target: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``target`` with the shared definitions it reaches (transitively) in its own ``$defs``."""
    shared: dict[str, Any] = defs.get("$defs", {})
    body = {k: v for k, v in target.items() if k != "$defs"}
    wanted: set[str] = set()
    out = _rewrite(body, wanted, str(target.get("$id", "target")))
    flat: dict[str, Any] = {}
    todo = sorted(wanted)
    while todo:
        name = todo.pop()
        if name in flat:
            continue
        if name not in shared:
            raise BundleError(f"#/$defs/{name} is not defined in {DEFS_FILE}")
        more: set[str] = set()
        flat[name] = _rewrite(shared[name], more, f"{DEFS_FILE}#/$defs/{name}")
        todo.extend(sorted(more - flat.keys()))
    if flat:
        out["$defs"] = {name: flat[name] for name in sorted(flat)}
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None, folder: Path = SCHEMAS) -> int:
    check = "--check" in (sys.argv[1:] if argv is None else argv)
    defs = json.loads((folder / DEFS_FILE).read_text("utf-8"))
    stale = []
    for name in TARGETS:
        path = folder / name
        current = path.read_text("utf-8")
        try:
            want = render(bundled(json.loads(current), defs))
        except BundleError as exc:
            print(f"bundle_schemas: {name}: {exc}", file=sys.stderr)
            return 1
        if want != current:
            stale.append(name)
            if not check:
                path.write_text(want, "utf-8")
    if check and stale:
        print(f"stale bundled schemas: {', '.join(stale)}; run python tools/bundle_schemas.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
