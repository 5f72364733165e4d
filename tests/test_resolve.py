"""Resolution: platform defaults → host → org, with the source of every field."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.desired import DesiredState, build_desired
from reconciler.errors import ConfigError
from reconciler.model import FIELDS, PROBE_FIELDS
from reconciler.resolve import BUILTIN_PLATFORM, load_platform_defaults
from reconciler.validate import validate_paths
from tests import manifests


def desired(
    tmp_path: Path, files: dict[str, str], platform_file: Path | None = None
) -> DesiredState:
    folder = tmp_path / "configs"
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    run = validate_paths([folder])
    assert run.result.valid(), run.result.diagnostics
    return build_desired(run, {}, load_platform_defaults(platform_file), None)


ALL_HOST = dict.fromkeys(FIELDS, "host")
ALL_PLATFORM = dict.fromkeys(FIELDS, "platform")
ALL_ORG = dict.fromkeys(FIELDS, "org")


def probe_from(source: str) -> dict[str, str]:
    """The ``probe`` block (recipient and confirmation) is inherited as one unit."""
    return dict.fromkeys(PROBE_FIELDS, source)


@pytest.mark.parametrize(
    ("host_text", "org_text", "expected_sources", "expected_host"),
    [
        pytest.param(
            manifests.host(),
            manifests.org("a"),
            ALL_HOST,
            "127.0.0.1",
            id="custom-host/default-org",
        ),
        pytest.param(
            manifests.host("default", probe_to=None),
            manifests.org("a"),
            ALL_PLATFORM,
            "smtp.sendgrid.net",
            id="default-host/default-org",
        ),
        pytest.param(
            manifests.host("default", probe_to="p@platform.example"),
            manifests.org("a"),
            {**ALL_PLATFORM, **probe_from("host")},
            "smtp.sendgrid.net",
            id="default-host-with-probe",
        ),
        pytest.param(
            manifests.host(),
            manifests.org("a", "custom", host="mx.a.example", port=587),
            {**ALL_ORG, **probe_from("host")},
            "mx.a.example",
            id="custom-org-probe-falls-back",
        ),
        pytest.param(
            manifests.host(),
            manifests.org("a", "custom", host="mx.a.example", port=587, probe_to="p@a.example"),
            ALL_ORG,
            "mx.a.example",
            id="custom-org-own-probe",
        ),
        pytest.param(
            manifests.host(),
            manifests.org("a", probe_to="p@a.example"),
            {**ALL_HOST, **probe_from("org")},
            "127.0.0.1",
            id="default-org-own-probe",
        ),
    ],
)
def test_provenance_table(
    tmp_path: Path,
    host_text: str,
    org_text: str,
    expected_sources: dict[str, str],
    expected_host: str,
) -> None:
    state = desired(tmp_path, {"host.yaml": host_text, "orgs/a.yaml": org_text})
    org = state.scopes["org/a"]
    assert org.sources == expected_sources
    assert org.effective["smtp.host"] == expected_host


def test_custom_org_replaces_everything(tmp_path: Path) -> None:
    """No field-by-field merge: the host's auth does not leak into a custom org."""
    state = desired(
        tmp_path,
        {
            "host.yaml": manifests.host(user="hostuser"),
            "orgs/a.yaml": manifests.org("a", "custom", host="mx.a.example", port=587),
        },
    )
    assert state.scopes["host"].effective["smtp.auth.username"] == "hostuser"
    assert state.scopes["org/a"].effective["smtp.auth.username"] is None


def test_builtin_platform_defaults(tmp_path: Path) -> None:
    state = desired(tmp_path, {"host.yaml": manifests.host("default", probe_to=None)})
    eff = state.scopes["host"].effective
    assert eff == BUILTIN_PLATFORM.flat()
    assert eff["smtp.host"] == "smtp.sendgrid.net"
    assert eff["smtp.auth.username"] == "apikey"
    assert eff["smtp.auth.password"] == "env:MAILCTL_PLATFORM_SMTP_PASSWORD"
    assert eff["from.address"] == "admin@mydomain.com"


def test_platform_defaults_file_replaces_builtin(tmp_path: Path) -> None:
    platform = tmp_path / "platform.yaml"
    platform.write_text(manifests.host(host="relay.platform.example", port=587))
    state = desired(
        tmp_path,
        {"host.yaml": manifests.host("default", probe_to=None), "orgs/a.yaml": manifests.org("a")},
        platform,
    )
    assert state.scopes["org/a"].effective["smtp.host"] == "relay.platform.example"
    assert state.scopes["org/a"].sources["smtp.host"] == "platform"


@pytest.mark.parametrize(
    "text",
    [manifests.host("default"), manifests.org("a", "custom", host="x.example", port=587), "::bad"],
)
def test_platform_defaults_must_be_custom_host(tmp_path: Path, text: str) -> None:
    platform = tmp_path / "platform.yaml"
    platform.write_text(text)
    with pytest.raises(ConfigError):
        load_platform_defaults(platform)
