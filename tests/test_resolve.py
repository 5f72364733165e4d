"""Resolution: platform defaults → host → org, with the source of every field."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.desired import DesiredState, build_desired
from reconciler.errors import ConfigError
from reconciler.model import FIELDS, PROBE_FIELDS, Effective
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
    """The ``probe`` block (recipient, confirmation and EHLO name) is inherited as one unit."""
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


@pytest.mark.parametrize(
    ("host_ehlo", "org_text", "expected"),
    [
        pytest.param(
            "mx.platform.example",
            manifests.org("a"),
            "mx.platform.example",
            id="default-org-inherits",
        ),
        pytest.param(
            "mx.platform.example",
            manifests.org("a", "custom", port=587),
            "mx.platform.example",
            id="custom-org-without-probe-inherits-the-block",
        ),
        pytest.param(
            "mx.platform.example",
            manifests.org("a", probe_to="p@a.example"),
            None,
            id="own-probe-block-without-ehlo-name-inherits-nothing",
        ),
        pytest.param(
            None,
            manifests.org("a", probe_to="p@a.example", ehlo_name="[192.0.2.7]"),
            "[192.0.2.7]",
            id="own-ehlo-name",
        ),
    ],
)
def test_ehlo_name_travels_with_the_probe_block(
    tmp_path: Path, host_ehlo: str | None, org_text: str, expected: str | None
) -> None:
    host_text = manifests.host(ehlo_name=host_ehlo)
    state = desired(tmp_path, {"host.yaml": host_text, "orgs/a.yaml": org_text})
    assert state.scopes["host"].effective["probe.ehloName"] == host_ehlo
    org = state.scopes["org/a"]
    assert org.effective["probe.ehloName"] == expected
    assert org.sources["probe.ehloName"] == org.sources["probe.to"]


def test_ehlo_name_and_confirmation_are_one_probe_block(tmp_path: Path) -> None:
    """``probe.ehloName`` and ``probe.confirm`` are inherited together, with ``probe.to``,
    from the same source, and an own ``probe`` block replaces all of them."""
    host_text = manifests.host(ehlo_name="mx.platform.example") + (
        "    confirm:\n      maildir: /var/mail/probe\n      withinMs: 30000\n"
    )
    files = {
        "host.yaml": host_text,
        "orgs/a.yaml": manifests.org("a", "custom", port=587),
        "orgs/b.yaml": manifests.org("b", probe_to="p@b.example", ehlo_name="[192.0.2.7]"),
    }
    state = desired(tmp_path, files)
    a = state.scopes["org/a"]
    assert a.effective["probe.ehloName"] == "mx.platform.example"
    assert a.effective["probe.confirm.maildir"] == "/var/mail/probe"
    assert a.effective["probe.confirm.withinMs"] == 30000
    assert {a.sources[name] for name in PROBE_FIELDS} == {"host"}
    b = state.scopes["org/b"]
    assert b.effective["probe.ehloName"] == "[192.0.2.7]"
    assert b.effective["probe.confirm.maildir"] is None
    assert b.effective["probe.confirm.withinMs"] is None
    assert {b.sources[name] for name in PROBE_FIELDS} == {"org"}


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


def test_probe_block_survives_the_flat_form(tmp_path: Path) -> None:
    """The store keeps the flat form: ``from_flat(flat())`` gives back the EHLO name and the
    delivery confirmation."""
    host_text = manifests.host(ehlo_name="[192.0.2.7]") + (
        "    confirm:\n      maildir: /var/mail/probe\n      withinMs: 30000\n"
    )
    flat = desired(tmp_path, {"host.yaml": host_text}).scopes["host"].effective
    effective = Effective.from_flat(flat)
    assert effective.ehlo_name == "[192.0.2.7]"
    assert effective.confirm is not None
    assert effective.confirm.maildir == "/var/mail/probe"
    assert effective.flat() == flat
