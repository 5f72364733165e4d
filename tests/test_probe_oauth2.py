"""``reconciler.probe.oauth2``: client-credentials tokens and SASL XOAUTH2, end to end.

A real token endpoint (HTTP and HTTPS on loopback, counting requests) and a real aiosmtpd
server implementing XOAUTH2 with STARTTLS; the probe is the real one.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable

import pytest

from reconciler.model import OAuth2
from reconciler.probe import ProbeTarget, probe, probe_outcomes
from reconciler.probe.oauth2 import TOKENS, TokenCache, TokenError, fetch_token
from tests.fixtures_oauth2 import (
    CLIENT_ID,
    CLIENT_SECRET,
    SCOPE,
    SENDER,
    TokenEndpoint,
    XOAuth2Server,
)
from tests.fixtures_smtp import Pki

Endpoints = Callable[..., TokenEndpoint]
Servers = Callable[..., XOAuth2Server]


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> None:
    TOKENS.clear()


def run_probe(server: XOAuth2Server, oauth: OAuth2, pki: Pki, secret: str = CLIENT_SECRET):  # type: ignore[no-untyped-def]
    return asyncio.run(
        probe(server.settings(oauth), secret, scope_label="host", ca_file=pki.ca_file)
    )


def test_token_fetched_once_and_reused_across_probes(
    token_endpoint: Endpoints, xoauth2_server: Servers, pki: Pki
) -> None:
    endpoint = token_endpoint()
    server = xoauth2_server(endpoint)
    results = [run_probe(server, endpoint.oauth2(), pki) for _ in range(3)]
    assert [r.status for r in results] == ["passed"] * 3, results[0]
    assert [r.stage for r in results] == ["quit"] * 3
    assert endpoint.requests == 1
    assert server.handler.logins == [(SENDER, True)] * 3
    assert len(server.handler.recorder.messages) == 3


def test_scopes_sharing_a_client_share_one_token(
    token_endpoint: Endpoints, xoauth2_server: Servers, pki: Pki
) -> None:
    endpoint = token_endpoint()
    server = xoauth2_server(endpoint)
    oauth = endpoint.oauth2()
    targets = [
        ProbeTarget(
            f"org/o{i}", server.settings(oauth, probe_to=f"p{i}@contoso.example"), CLIENT_SECRET
        )
        for i in range(4)
    ]
    outcomes = asyncio.run(probe_outcomes(targets, ca_file=pki.ca_file))
    assert len(outcomes) == 4  # different recipients: four probes
    assert all(o.result.passed for o in outcomes), outcomes[0].result
    assert endpoint.requests == 1


def test_another_scope_does_not_reuse_the_token_with_a_wrong_secret(
    token_endpoint: Endpoints, xoauth2_server: Servers, pki: Pki
) -> None:
    endpoint = token_endpoint()
    server = xoauth2_server(endpoint)
    assert run_probe(server, endpoint.oauth2(), pki).passed
    wrong = run_probe(server, endpoint.oauth2(), pki, secret="not-the-secret")
    assert (wrong.status, wrong.stage, wrong.failure_class) == ("failed", "auth", "oauth2_token")
    assert endpoint.requests == 2


def test_token_refreshed_when_it_nears_expiry(
    token_endpoint: Endpoints, xoauth2_server: Servers, pki: Pki
) -> None:
    # expires_in 2 s: usable for 1 s (the margin is 60 s, at most half the lifetime).
    endpoint = token_endpoint(expires_in=2)
    server = xoauth2_server(endpoint)
    assert run_probe(server, endpoint.oauth2(), pki).passed
    assert run_probe(server, endpoint.oauth2(), pki).passed
    assert endpoint.requests == 1
    time.sleep(1.1)
    assert run_probe(server, endpoint.oauth2(), pki).passed
    assert endpoint.requests == 2


def test_cache_keeps_a_token_until_60_seconds_before_expiry(token_endpoint: Endpoints) -> None:
    endpoint = token_endpoint(expires_in=3600)
    now = [1000.0]
    cache = TokenCache(clock=lambda: now[0])

    async def get() -> str:
        return await cache.token(endpoint.oauth2(), CLIENT_SECRET, context=None, timeout=5)

    first = asyncio.run(get())
    now[0] += 3600 - 60 - 1
    assert asyncio.run(get()) == first
    assert endpoint.requests == 1
    now[0] += 2
    assert asyncio.run(get()) != first
    assert endpoint.requests == 2


def test_concurrent_probes_share_one_token_request(token_endpoint: Endpoints) -> None:
    endpoint = token_endpoint()
    cache = TokenCache()

    async def many() -> list[str]:
        oauth = endpoint.oauth2()
        return list(
            await asyncio.gather(
                *(cache.token(oauth, CLIENT_SECRET, context=None, timeout=5) for _ in range(10))
            )
        )

    tokens = asyncio.run(many())
    assert len(set(tokens)) == 1
    assert endpoint.requests == 1


@pytest.mark.parametrize(
    ("fail_with", "error", "described"),
    [
        (
            (401, "invalid_client", "AADSTS7000215: Invalid client secret provided."),
            "invalid_client",
            "AADSTS7000215",
        ),
        (
            (400, "unauthorized_client", "AADSTS700016: Application not found in the directory"),
            "unauthorized_client",
            "AADSTS700016",
        ),
        (
            (503, "temporarily_unavailable", "AADSTS90033: try again"),
            "temporarily_unavailable",
            "AADSTS90033",
        ),
    ],
)
def test_token_error_is_surfaced_with_the_endpoint_error(
    token_endpoint: Endpoints,
    xoauth2_server: Servers,
    pki: Pki,
    fail_with: tuple[int, str, str],
    error: str,
    described: str,
) -> None:
    endpoint = token_endpoint(fail_with=fail_with)
    server = xoauth2_server(endpoint)
    result = run_probe(server, endpoint.oauth2(), pki)
    assert (result.status, result.stage, result.failure_class) == ("failed", "auth", "oauth2_token")
    assert error in result.message and described in result.message
    assert str(fail_with[0]) in result.message
    assert result.hint is not None and "clientId" in result.hint
    assert server.handler.recorder.messages == [] and server.handler.logins == []


def test_unreachable_token_endpoint_is_an_oauth2_token_failure(
    xoauth2_server: Servers, token_endpoint: Endpoints, pki: Pki
) -> None:
    from tests.fixtures_smtp import free_port

    endpoint = token_endpoint()
    server = xoauth2_server(endpoint)
    dead = OAuth2(f"http://127.0.0.1:{free_port()}/token", CLIENT_ID, SCOPE)
    result = run_probe(server, dead, pki)
    assert (result.failure_class, result.stage) == ("oauth2_token", "auth")
    assert "unreachable" in result.message


@pytest.mark.parametrize("style", ["office365", "gmail"])
def test_xoauth2_refusal_is_auth_rejected_and_the_token_is_dropped(
    token_endpoint: Endpoints, xoauth2_server: Servers, pki: Pki, style: str
) -> None:
    endpoint = token_endpoint()
    server = xoauth2_server(endpoint, style)
    assert run_probe(server, endpoint.oauth2(), pki).passed
    with endpoint.lock:  # the server stops accepting the issued token (revoked)
        endpoint.issued.clear()
    result = run_probe(server, endpoint.oauth2(), pki)
    assert (result.status, result.stage, result.failure_class) == (
        "failed",
        "auth",
        "auth_rejected",
    )
    assert result.code == 535
    # The refused token is not reused: the next probe asks for a new one and passes.
    assert run_probe(server, endpoint.oauth2(), pki).passed
    assert endpoint.requests == 2


def test_https_token_endpoint_is_verified_with_the_ca_file(
    token_endpoint: Endpoints, xoauth2_server: Servers, pki: Pki
) -> None:
    endpoint = token_endpoint(https=True)
    server = xoauth2_server(endpoint)
    assert run_probe(server, endpoint.oauth2(), pki).passed
    TOKENS.clear()
    untrusted = asyncio.run(
        probe(server.settings(endpoint.oauth2()), CLIENT_SECRET, scope_label="host")
    )
    # Without --ca-file the SMTP STARTTLS already fails; the token endpoint alone:
    with pytest.raises(TokenError, match="certificate verify failed"):
        fetch_token(endpoint.oauth2(), CLIENT_SECRET, context=_default_context(), timeout=5)
    assert untrusted.failure_class == "tls_certificate"


def _default_context():  # type: ignore[no-untyped-def]
    import ssl

    return ssl.create_default_context()


def test_server_without_xoauth2_is_auth_unavailable(
    token_endpoint: Endpoints,
    smtp_server,
    pki: Pki,  # type: ignore[no-untyped-def]
) -> None:
    from tests.fixtures_smtp import ServerSpec

    endpoint = token_endpoint()
    plain = smtp_server(ServerSpec(tls="starttls", users={SENDER: "pw"}))
    settings = plain.settings(username=SENDER)
    from dataclasses import replace

    from reconciler.model import Auth

    settings = replace(
        settings,
        smtp=replace(
            settings.smtp, auth=Auth(SENDER, settings.smtp.auth.password, endpoint.oauth2())
        ),  # type: ignore[union-attr]
    )
    result = asyncio.run(probe(settings, CLIENT_SECRET, scope_label="host", ca_file=pki.ca_file))
    assert (result.failure_class, result.stage) == ("auth_unavailable", "auth")
    assert "XOAUTH2" in result.message
    assert endpoint.requests == 0


def test_the_blob_is_rfc_shaped_and_carries_the_token(
    token_endpoint: Endpoints, xoauth2_server: Servers, pki: Pki
) -> None:
    endpoint = token_endpoint()
    server = xoauth2_server(endpoint)
    assert run_probe(server, endpoint.oauth2(), pki).passed
    raw = base64.b64decode(server.handler.blobs[0]).decode()
    (token,) = endpoint.issued
    assert raw == f"user={SENDER}\x01auth=Bearer {token}\x01\x01"
