"""``tools/bundle_schemas.py``: host/org schemas generated from defs.schema.json, in sync,
self-contained (no embedded resources), and refusing references it cannot make local."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"


@pytest.fixture(scope="module")
def bundler() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bundle_schemas", ROOT / "tools/bundle_schemas.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _walk(node: Any, where: str = "#") -> Iterator[tuple[str, str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield where, key, value
            yield from _walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{where}/{i}")


def test_bundled_schemas_are_current() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "bundle_schemas.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", ["host.schema.json", "org.schema.json"])
def test_bundle_is_flat_every_ref_local_and_defined(name: str) -> None:
    """No embedded ``$id`` below the root (yaml-language-server resolves ``#`` against the
    outer document), every ``$ref`` is ``#/$defs/...`` and names a definition present here."""
    schema = json.loads((SCHEMAS / name).read_text())
    nested_ids = [where for where, key, _ in _walk(schema) if key == "$id" and where != "#"]
    assert nested_ids == []
    refs = [value for _, key, value in _walk(schema) if key == "$ref"]
    assert refs, "the spec refers to the shared mailSpec"
    for ref in refs:
        assert ref.startswith("#/$defs/"), ref
        assert ref.split("/")[2] in schema["$defs"], ref
    defs = json.loads((SCHEMAS / "defs.schema.json").read_text())["$defs"]
    for key, value in schema["$defs"].items():  # copies, refs made local
        source = json.dumps(defs[key], sort_keys=True).replace('"defs.schema.json#/', '"#/')
        assert json.dumps(value, sort_keys=True) == source


def test_check_reports_a_stale_bundle_and_a_rewrite_fixes_it(
    bundler: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, folder)
    defs = json.loads((folder / "defs.schema.json").read_text())
    spec = defs["$defs"]["mailSpec"]["properties"]["smtp"]["properties"]
    spec["timeoutMs"]["description"] = "Changed in defs.schema.json only."
    (folder / "defs.schema.json").write_text(json.dumps(defs))
    assert bundler.main(["--check"], folder) == 1
    assert "stale bundled schemas: host.schema.json, org.schema.json" in capsys.readouterr().out
    assert bundler.main([], folder) == 0
    assert bundler.main(["--check"], folder) == 0
    host = json.loads((folder / "host.schema.json").read_text())
    smtp = host["$defs"]["mailSpec"]["properties"]["smtp"]["properties"]
    assert smtp["timeoutMs"]["description"] == "Changed in defs.schema.json only."


def test_refs_written_against_defs_file_are_rewritten_and_reached_defs_copied(
    bundler: ModuleType,
) -> None:
    defs = {
        "$defs": {
            "a": {"type": "object", "properties": {"b": {"$ref": "#/$defs/b"}}},
            "b": {"type": "string"},
            "unused": {"type": "integer"},
        }
    }
    target = {"$id": "https://x/t.json", "properties": {"x": {"$ref": "defs.schema.json#/$defs/a"}}}
    out = bundler.bundled(target, defs)
    assert out["properties"]["x"] == {"$ref": "#/$defs/a"}
    assert sorted(out["$defs"]) == ["a", "b"]
    assert bundler.bundled(out, defs) == out  # idempotent


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("other.schema.json#/$defs/a", "neither local nor into defs.schema.json"),
        ("#/$defs/missing", "#/$defs/missing is not defined in defs.schema.json"),
    ],
)
def test_unbundleable_refs_are_refused(bundler: ModuleType, ref: str, message: str) -> None:
    with pytest.raises(bundler.BundleError, match=message.replace("$", r"\$")):
        bundler.bundled({"properties": {"x": {"$ref": ref}}}, {"$defs": {"a": {}}})
