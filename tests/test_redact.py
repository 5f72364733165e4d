"""The redactor: every form a server can echo a secret in, for every registered secret."""

from __future__ import annotations

import base64

import pytest

from reconciler.redact import MASK, Redactor, variants

SECRET = "s3cret-Pa55word!"
OTHER = "tenant-two-Secret"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


ECHOES = {
    "plain": SECRET,
    "upper": SECRET.upper(),
    "lower": SECRET.lower(),
    "login": _b64(SECRET.encode()),
    "login-upper": _b64(SECRET.encode()).upper(),
    "login-lower": _b64(SECRET.encode()).lower(),
    "plain-blob": _b64(b"\0alice\0" + SECRET.encode()),
    "plain-blob-authzid": _b64(b"alice\0alice\0" + SECRET.encode()),
    "plain-blob-upper": _b64(b"\0alice\0" + SECRET.encode()).upper(),
    "blob-offset-1": _b64(b"x" + SECRET.encode() + b"tail"),
    "blob-offset-2": _b64(b"xy" + SECRET.encode() + b"tail"),
}


@pytest.mark.parametrize("form", sorted(ECHOES))
def test_every_echoed_form_is_masked(form: str) -> None:
    red = Redactor([SECRET])
    echoed = ECHOES[form]
    out = red(f"535 5.7.8 bad credentials {echoed} end")
    assert out.startswith("535 5.7.8 bad credentials ")
    assert out.endswith(" end")
    assert MASK in out
    assert SECRET.lower() not in out.lower()
    # No core of the base64 form survives either (any alignment, any case).
    for needle in variants(SECRET):
        assert needle.lower() not in out.lower()


def test_all_registered_secrets_are_masked_not_only_one() -> None:
    red = Redactor([SECRET])
    red.add([OTHER, None, "ab"])  # None and too-short values are ignored
    text = f"a {SECRET} b {_b64(OTHER.encode())} c ab"
    out = red(text)
    assert SECRET not in out and _b64(OTHER.encode()) not in out
    assert out.endswith(" c ab")
    assert len(red) == 2


def test_structures_keys_and_values() -> None:
    red = Redactor([SECRET])
    got = red.redact({SECRET: [f"x{SECRET}", 3, None, True], "n": ValueError(SECRET)})
    assert got == {MASK: [f"x{MASK}", 3, None, True], "n": MASK}


def test_text_without_secrets_is_unchanged() -> None:
    red = Redactor([SECRET])
    text = "250 2.0.0 Ok: queued as 4Bc1 — ünïcode İstanbul"
    assert red(text) == text
    assert Redactor()(text) == text


def test_case_folding_keeps_positions_with_expanding_characters() -> None:
    red = Redactor([SECRET])
    out = red(f"İİ {SECRET.upper()} İ")
    assert out == f"İİ {MASK} İ"


def test_many_secrets_index_stays_exact() -> None:
    secrets = [f"org{i:05d}-pw-{i * 7919:x}" for i in range(2000)]
    red = Redactor(secrets)
    sample = secrets[1234]
    assert red(f"535 {sample} / {_b64(sample.encode())}") == f"535 {MASK} / {MASK}"
    assert red("535 org01234-pw") == "535 org01234-pw"  # a prefix alone is no secret


def test_http_bodies_are_masked_with_the_process_redactor() -> None:
    from reconciler.daemon.http import _response
    from reconciler.redact import REDACTOR

    secret = "http-Body-secret-42"
    REDACTOR.add([secret])
    body = f'{{"message": "535 {secret.upper()} {_b64(secret.encode())}"}}\n'.encode()
    raw = _response(200, "application/json", body, False)
    head, _, sent = raw.partition(b"\r\n\r\n")
    assert secret.upper().encode() not in sent and _b64(secret.encode()).encode() not in sent
    assert sent == f'{{"message": "535 {MASK} {MASK}"}}\n'.encode()
    assert f"Content-Length: {len(sent)}".encode() in head
    binary = b"\xff\xfe no secret here"
    assert _response(200, "text/plain", binary, False).endswith(binary)
