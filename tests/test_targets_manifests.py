"""Target manifests are validated like the others: schema, file:line:col, semantic rules
(https except loopback, the secret rules of DESIGN §8), unique names."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.validate import validate_paths

HOST = "apiVersion: mailctl/v1\nkind: HostMailSettings\nspec: {mode: default}\n"


def _orch(url: str = "https://orch.example.com", secret: str = "{env: ORCH_SECRET}") -> str:
    return (
        "apiVersion: mailctl/v1\nkind: OrchestratorTarget\nmetadata: {name: prod}\nspec:\n"
        f"  url: {url}\n  clientId: app-id\n  clientSecret: {secret}\n"
        "  hostPartitionGlobalId: p-host\n"
    )


def _diags(tmp_path: Path, **files: str) -> list[tuple[str, int, int, str]]:
    (tmp_path / "host.yaml").write_text(HOST)
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    run = validate_paths([tmp_path])
    return [(Path(d.file).name, d.line, d.column, d.rule) for d in run.result.diagnostics]


def test_a_valid_target_is_a_target_not_a_scope(tmp_path: Path) -> None:
    (tmp_path / "host.yaml").write_text(HOST)
    (tmp_path / "prod.yaml").write_text(_orch())
    run = validate_paths([tmp_path])
    assert run.result.diagnostics == []
    assert [t.name for t in run.targets] == ["prod"]
    assert [m.scope for m in run.manifests] == ["host"]


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://orch.example.com", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost:8080", True),
        ("http://orch.example.com", False),
    ],
)
def test_url_must_be_https_except_loopback(tmp_path: Path, url: str, ok: bool) -> None:
    diags = _diags(tmp_path, prod=_orch(url))
    assert diags == ([] if ok else [("prod.yaml", 5, 8, "target.url-insecure")])


def test_a_literal_secret_is_an_error_that_never_echoes_it(tmp_path: Path) -> None:
    (tmp_path / "host.yaml").write_text(HOST)
    (tmp_path / "prod.yaml").write_text(_orch(secret="s3cr3t-Literal"))
    run = validate_paths([tmp_path])
    [d] = run.result.diagnostics
    assert (d.line, d.column, d.rule) == (7, 17, "secret.literal")
    assert "s3cr3t-Literal" not in d.message + d.hint


def test_secret_files_must_lie_under_the_roots_any_env_name_is_fine(tmp_path: Path) -> None:
    diags = _diags(tmp_path, prod=_orch(secret="{file: /etc/passwd}"))
    assert diags == [("prod.yaml", 7, 24, "secret.outside-roots")]
    assert _diags(tmp_path, prod=_orch(secret="{env: ANY_NAME_AT_ALL}")) == []


def test_target_names_are_unique_across_kinds(tmp_path: Path) -> None:
    hook = (
        "apiVersion: mailctl/v1\nkind: WebhookTarget\nmetadata: {name: prod}\n"
        "spec: {url: 'https://h.example/x', secret: {env: HOOK}}\n"
    )
    diags = _diags(tmp_path, prod=_orch(), zhook=hook)
    assert diags == [("zhook.yaml", 3, 18, "set.duplicate")]


def test_org_target_ids_are_checked(tmp_path: Path) -> None:
    org = (
        "apiVersion: mailctl/v1\nkind: OrgMailSettings\n"
        "metadata: {name: acme, targetIds: {Prod: p1, prod: 'has space'}}\nspec: {mode: default}\n"
    )
    assert _diags(tmp_path, acme=org) == [
        ("acme.yaml", 3, 35, "schema.pattern"),  # "Prod" is no target name
        ("acme.yaml", 3, 52, "schema.pattern"),  # "has space" is no partition id
    ]
