"""``schemas/`` and ``reconciler.schemas``: valid 2020-12 schemas, documented fields,
bundles in sync, examples that validate, and agreement with check-jsonschema."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from reconciler.schemas import schema_dir

REPO = Path(__file__).resolve().parent.parent
FILES = sorted((REPO / "schemas").glob("*.schema.json"))
SCHEMAS = {p.name: json.loads(p.read_text("utf-8")) for p in FILES}


def _fields(schema: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property subschema, with a dotted name."""
    if not isinstance(schema, dict):
        return
    for name, sub in schema.get("properties", {}).items():
        yield f"{where}.{name}", sub
        yield from _fields(sub, f"{where}.{name}")
    for name, sub in schema.get("$defs", {}).items():
        yield from _fields(sub, f"{where}#{name}")


def test_schema_dir_is_the_repository_schemas_in_a_checkout() -> None:
    names = {p.name for p in schema_dir().glob("*.schema.json")}
    assert names == {
        "defs.schema.json",
        "host.schema.json",
        "org.schema.json",
        "orchestrator-target.schema.json",
        "webhook-target.schema.json",
    }


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_is_valid_draft_2020_12_with_id(name: str) -> None:
    schema = SCHEMAS[name]
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/{name}")


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_field_has_description_and_examples(name: str) -> None:
    missing = [
        field
        for field, sub in _fields(SCHEMAS[name])
        if not sub.get("description") or ("examples" not in sub and "const" not in sub)
    ]
    assert missing == []


def _registry() -> Registry[Any]:
    return Registry().with_resources(
        (doc["$id"], Resource.from_contents(doc)) for doc in SCHEMAS.values()
    )


@pytest.mark.parametrize("name", SCHEMAS)
def test_field_examples_validate_against_their_field(name: str) -> None:
    registry = _registry()
    base = SCHEMAS[name]
    bad = []
    for field, sub in _fields(base):
        for example in sub.get("examples", []):
            # A sibling URI (relative "defs.schema.json#/..." refs) and the file's $defs
            # beside the field ("#/$defs/..." refs) resolve as in the file.
            wrapped = {
                **sub,
                "$id": base["$id"].rsplit("/", 1)[0] + "/field-under-test.json",
                "$defs": base.get("$defs", {}),
            }
            errors = list(Draft202012Validator(wrapped, registry=registry).iter_errors(example))
            if errors:
                bad.append((field, example, errors[0].message))
    assert bad == []


@pytest.mark.parametrize("kind", ["host", "org"])
def test_bundled_schema_needs_no_network(kind: str) -> None:
    """With only the one file registered, every $ref resolves (editors work offline)."""
    schema = SCHEMAS[f"{kind}.schema.json"]
    validator = Draft202012Validator(schema)  # no registry: an unresolvable $ref raises
    manifest = {
        "apiVersion": "mailctl/v1",
        "kind": "HostMailSettings" if kind == "host" else "OrgMailSettings",
        "metadata": {"name": "acme"},
        "spec": {"mode": "custom", "smtp": {"host": "a.example", "port": 0}},
    }
    messages = sorted(e.message for e in validator.iter_errors(manifest))
    assert any("'from' is a required property" in m for m in messages)
    assert any("less than the minimum" in m for m in messages)


def _modeline_target(text: str, folder: Path) -> Path:
    first = text.splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema="), first
    return (folder / first.split("$schema=", 1)[1]).resolve()


def _kind(text: str) -> str:
    """The schema name of a manifest: host, org or one of the target kinds."""
    for kind, name in (
        ("OrchestratorTarget", "orchestrator-target"),
        ("WebhookTarget", "webhook-target"),
        ("HostMailSettings", "host"),
    ):
        if f"kind: {kind}" in text:
            return name
    return "org"


# Where examples of each kind go when copied into configs/ (examples/ mirrors configs/).
_FOLDER = {"host": "", "org": "orgs", "orchestrator-target": "targets", "webhook-target": "targets"}


@pytest.mark.parametrize(
    "path",
    [*sorted((REPO / "configs").rglob("*.yaml")), *sorted((REPO / "examples").rglob("*.yaml"))],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_modeline_points_at_the_schema_of_its_kind(path: Path) -> None:
    text = path.read_text()
    target = _modeline_target(text, path.parent)
    assert target == REPO / "schemas" / f"{_kind(text)}.schema.json"


@pytest.mark.parametrize("path", sorted((REPO / "examples").rglob("*.yaml")), ids=lambda p: p.name)
def test_example_modeline_still_resolves_when_copied_into_configs(path: Path) -> None:
    """examples/ mirrors configs/: the host example goes to configs/host.yaml, org examples
    to configs/orgs/<name>.yaml, targets to configs/targets/<name>.yaml, and the relative
    modeline keeps working there."""
    text = path.read_text()
    kind = _kind(text)
    destination = REPO / "configs" / _FOLDER[kind]
    assert path.parent.relative_to(REPO / "examples") == destination.relative_to(
        REPO / "configs"
    ), "host examples belong in examples/, orgs in examples/orgs/, targets in examples/targets/"
    assert _modeline_target(text, destination) == REPO / "schemas" / f"{kind}.schema.json"


def test_check_jsonschema_agrees_on_the_shipped_orgs() -> None:
    """The public tool accepts our manifests with our schema, offline."""
    check = Path(sys.executable).with_name("check-jsonschema")
    if not check.exists():
        pytest.skip("check-jsonschema not installed next to this interpreter")
    orgs = sorted(str(p) for p in (REPO / "configs" / "orgs").glob("*.yaml"))
    orgs += sorted(str(p) for p in (REPO / "examples" / "orgs").glob("*.yaml"))
    proc = subprocess.run(
        [str(check), "--schemafile", str(REPO / "schemas" / "org.schema.json"), *orgs],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("kind", ["HostMailSettings", "OrgMailSettings"])
def test_spec_is_validated_on_its_own_and_agrees_with_the_whole_schema(kind: str) -> None:
    """The hot path validates ``spec`` alone (memoised per run); its errors must be the
    whole schema's errors, including those behind the spec's own ``#/$defs`` references."""
    from reconciler.schemas import SCHEMA_FILES, _validator_class, _validators

    split = _validators()[kind]
    assert split.spec is not None  # a schema change that disables the split is a regression
    whole = _validator_class()(json.loads((schema_dir() / SCHEMA_FILES[kind]).read_text()))
    bad_specs: list[dict[str, Any]] = [
        {"mode": "custom", "smtp": {"host": "h", "port": 0, "auth": {"username": "u"}}},
        {"mode": "custom", "smtp": {"host": "h\n", "port": 25, "tls": "ssl"}, "from": {}},
        {"mode": "default", "probe": {"to": "x@y.z", "confirm": {"maildir": 3}}},
        {
            "mode": "custom",
            "smtp": {
                "host": "h",
                "port": 587,
                "auth": {"username": "u", "password": {"env": "A", "file": "b"}},
            },
            "from": {"address": "a@b.c"},
        },
    ]
    for spec in bad_specs:
        doc = {"apiVersion": "mailctl/v1", "kind": kind, "metadata": {"name": "acme"}}
        doc["spec"] = spec

        def errors(it: Any) -> list[tuple[str, str]]:
            return sorted((error.json_path, error.message) for error in it)

        assert errors(split.iter_errors(doc)) == errors(whole.iter_errors(doc))
        assert errors(whole.iter_errors(doc))
