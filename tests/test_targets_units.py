"""Pieces of the targets on their own: the token cache against the contract server's real
token endpoint, TLS verification with --ca-file, Retry-After parsing, and what a scope maps
to (pure)."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator

import pytest

from reconciler.errors import TargetError
from reconciler.model import OAuth2
from reconciler.store import ScopeRecord
from reconciler.targets.http import Reply, retry_after
from reconciler.targets.manifest import TargetManifest
from reconciler.targets.orchestrator import OrchestratorTarget, TokenCache
from tests.fixtures_smtp import Pki
from tests.fixtures_targets import TargetRig, target_yaml
from tests.orchestrator_server import CLIENT_ID, CLIENT_SECRET, OrchestratorServer, serve


@pytest.fixture
def tls_server(pki: Pki) -> Iterator[OrchestratorServer]:
    yield from serve(OrchestratorServer(expires_in=2), pki.server_context("good"))


def _oauth(server: OrchestratorServer) -> OAuth2:
    return OAuth2(f"{server.url}/identity_/connect/token", CLIENT_ID, "PM.Setting")


def test_a_token_is_reused_until_shortly_before_it_expires(
    tls_server: OrchestratorServer, pki: Pki
) -> None:
    cache = TokenCache()
    oauth = _oauth(tls_server)
    first = cache.get(oauth, CLIENT_SECRET, ca_file=pki.ca_file, timeout=5)
    assert cache.get(oauth, CLIENT_SECRET, ca_file=pki.ca_file, timeout=5) == first
    assert len(tls_server.token_requests()) == 1
    time.sleep(1.2)  # expires_in 2 s: the margin is min(60 s, half the lifetime)
    second = cache.get(oauth, CLIENT_SECRET, ca_file=pki.ca_file, timeout=5)
    assert second != first and len(tls_server.token_requests()) == 2
    # a refused token is replaced at once, however fresh
    third = cache.get(oauth, CLIENT_SECRET, ca_file=pki.ca_file, timeout=5, stale=second)
    assert third != second and len(tls_server.token_requests()) == 3


def test_the_certificate_is_verified_and_ca_file_trusted(
    tls_server: OrchestratorServer, pki: Pki
) -> None:
    with pytest.raises(TargetError) as err:
        TokenCache().get(_oauth(tls_server), CLIENT_SECRET, ca_file=None, timeout=5)
    assert err.value.reason == "TlsCertificate" and "certificate verify failed" in err.value.message
    assert TokenCache().get(_oauth(tls_server), CLIENT_SECRET, ca_file=pki.ca_file, timeout=5)


def test_a_wrong_client_secret_is_token_failed_without_echoing_it(
    tls_server: OrchestratorServer, pki: Pki
) -> None:
    with pytest.raises(TargetError) as err:
        TokenCache().get(_oauth(tls_server), "wrong-Secret~x", ca_file=pki.ca_file, timeout=5)
    assert err.value.reason == "TokenFailed" and "invalid_client" in err.value.message
    assert "wrong-Secret~x" not in err.value.message


def test_apply_over_https_honours_ca_file(rig: TargetRig, pki: Pki) -> None:
    gen = serve(OrchestratorServer(), pki.server_context("good"))
    server = next(gen)
    try:
        rig.server = server
        rig.repo.write(
            "targets/prod.yaml", target_yaml(server.url.replace("127.0.0.1", "localhost"))
        )
        out = rig.apply(expect=3)  # the test CA is not trusted yet
        assert {f["reason"] for f in out["targets"]["targets"][0]["failed"]} == {"TlsCertificate"}
        rig.run("apply", "--probe", "off", "--ca-file", pki.ca_file, expect=0)
        assert len(server.settings) == 4
    finally:
        gen.close()


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    assert retry_after(Reply(429, {"Retry-After": "7"}, b"")) == 7.0
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    got = retry_after(Reply(503, {"retry-after": later}, b""))
    assert got is not None and 25 <= got <= 31
    assert retry_after(Reply(503, {"Retry-After": "soon"}, b"")) is None
    assert retry_after(Reply(503, {}, b"")) is None


def _record(scope: str, sources: str, **flat: object) -> ScopeRecord:
    effective = {
        "smtp.host": "smtp.example",
        "smtp.port": 25,
        "smtp.tls": "none",
        "from.address": "a@example.com",
        **flat,
    }
    return ScopeRecord(scope, "custom", {}, effective, dict.fromkeys(effective, sources))


def test_what_a_scope_maps_to() -> None:
    target = OrchestratorTarget(
        TargetManifest(
            "OrchestratorTarget",
            "prod",
            {
                "url": "https://o.example",
                "clientId": "c",
                "clientSecret": {"env": "S"},
                "hostPartitionGlobalId": "h",
            },
            "t.yaml",
        )
    )
    assert target.api == "https://o.example/identity_/api/Setting"
    assert target.oauth.token_url == "https://o.example/identity_/connect/token"
    plain = target.want(_record("org/a", "org"), {"prod": "pa"}, None)
    assert plain.partition == "pa" and plain.secret_fp is None
    assert plain.values["Email.Smtp.EnableSsl"] == "false"
    assert plain.values["Email.Smtp.UseDefaultCredentials"] == "true"
    assert plain.values["Email.Smtp.UserName"] == ""
    assert target.want(_record("host", "platform"), None, None).skip == "PlatformDefault"
    unmapped = target.want(_record("org/b", "org"), {}, None)
    assert unmapped.problem is not None and unmapped.problem[0] == "NoPartition"
    assert target.want(_record("org/b", "org"), None, "known").partition == "known"
    oauth = _record("org/c", "org", **{"smtp.auth.oauth2.clientSecret": "env:C_SECRET"})
    assert target.want(oauth, {"prod": "pc"}, None).problem[0] == "Unsupported"  # type: ignore[index]
