"""Embed ``schemas/defs.schema.json`` into the host and org schemas (JSON Schema bundling).

The host/org schemas ``$ref`` ``defs.schema.json#/$defs/...`` relative to their ``$id``. With
the defs resource embedded under ``$defs`` (keeping its own ``$id``), the reference resolves
inside the document, so editors, check-jsonschema and any 2020-12 validator work offline
without fetching ``https://mailctl.dev/...``. ``defs.schema.json`` stays the one source of
truth; run ``python tools/bundle_schemas.py`` after editing it (a test checks they agree).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
EMBED_KEY = "mailctl.defs"


def bundled(target: dict, defs: dict) -> dict:
    out = dict(target)
    out["$defs"] = {**target.get("$defs", {}), EMBED_KEY: defs}
    return out


def main(check: bool = False) -> int:
    defs = json.loads((SCHEMAS / "defs.schema.json").read_text("utf-8"))
    stale = []
    for name in ("host.schema.json", "org.schema.json"):
        path = SCHEMAS / name
        current = json.loads(path.read_text("utf-8"))
        want = bundled(current, defs)
        if want != current:
            stale.append(name)
            if not check:
                path.write_text(json.dumps(want, indent=2, ensure_ascii=False) + "\n", "utf-8")
    if check and stale:
        print(f"stale bundled schemas: {', '.join(stale)}; run python tools/bundle_schemas.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(check="--check" in sys.argv))
