"""A plain, valid manifest is validated without loading PyYAML or jsonschema (the fast
reader and the compiled schema check); a bad one loads them and gets their diagnostics."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli_imports import _loaded

FULL_PATH = ("yaml", "jsonschema", "referencing")


def _full(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in FULL_PATH)


def test_a_plain_valid_manifest_loads_neither_yaml_nor_jsonschema() -> None:
    code, modules = _loaded("validate", "configs/orgs/acme.yaml")
    assert code == 0
    assert "reconciler.reader_fast" in modules and "reconciler.schema_fast" in modules
    assert _full(modules) == []


def test_a_bad_manifest_takes_the_full_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: mailctl/v1\nkind: OrgMailSettings\nmetadata:\n  name: acme\n"
        "spec:\n  mode: sometimes\n"
    )
    code, modules = _loaded("validate", str(bad))
    assert code == 1
    assert "jsonschema" in modules  # the exact diagnostics come from jsonschema
    quoted = tmp_path / "quoted.yaml"
    quoted.write_text(
        "apiVersion: 'mailctl/v1'\nkind: OrgMailSettings\nmetadata:\n"
        "  name: acme\nspec:\n  mode: default\n"
    )
    code, modules = _loaded("validate", str(quoted))
    assert code == 0
    assert "yaml" in modules  # not in the fast reader's subset: libyaml reads it
