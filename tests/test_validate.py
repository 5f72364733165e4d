"""``reconciler.validate``: the bad-manifest corpus, good manifests, set-wide rules.

Every corpus case is one manifest (text or raw bytes) and the exact diagnostics it must
produce: rule id, severity, line and column. Line 1 is the first line of the string. Most
org manifests start with ``ORG`` (4 lines), so ``spec:`` is on line 5.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.diagnostics import Diagnostic
from reconciler.reader import MAX_BYTES
from reconciler.validate import validate_paths

REPO = Path(__file__).resolve().parent.parent

ORG = "apiVersion: mailctl/v1\nkind: OrgMailSettings\nmetadata:\n  name: acme\n"
HOST = "apiVersion: mailctl/v1\nkind: HostMailSettings\n"
FROM = "  from:\n    address: notify@acme.example\n"


def custom(smtp: str, sender: str = FROM, head: str = ORG) -> str:
    """An org in custom mode: spec line 5, mode 6, ``smtp:`` 7, smtp body from line 8."""
    return f"{head}spec:\n  mode: custom\n  smtp:\n{smtp}{sender}"


E, W = "error", "warning"


@dataclass(frozen=True)
class Bad:
    id: str
    content: str | bytes
    expect: tuple[tuple[str, str, int, int], ...]  # (rule, severity, line, column)
    message: str = ""  # a fragment the first diagnostic's message must contain
    hint: str = ""  # a fragment the first diagnostic's hint must contain

    def data(self) -> bytes:
        return self.content if isinstance(self.content, bytes) else self.content.encode()


LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)

CORPUS: list[Bad] = [
    # --- hostile input: files -------------------------------------------------------------
    Bad("file-too-large", "# padding\n" * (MAX_BYTES // 10 + 1), (("file.too-large", E, 1, 1),)),
    Bad("nul-byte", ORG + "spec:\n  mode: def\x00ault\n", (("file.binary", E, 6, 12),)),
    Bad("utf16-file", ORG.encode("utf-16"), (("file.binary", E, 1, 4),)),
    Bad(
        "latin1-line-4",
        b"apiVersion: mailctl/v1\nkind: OrgMailSettings\nmetadata:\n  name: caf\xe9\n",
        (("file.encoding", E, 4, 12),),
        message="0xe9",
    ),
    Bad("invalid-utf8-line-1", b"\xff\xfe garbage\n", (("file.encoding", E, 1, 1),)),
    # --- hostile input: YAML structure ----------------------------------------------------
    Bad("empty-file", "", (("yaml.empty", E, 1, 1),)),
    Bad("comment-only", "# just a comment\n# and another\n", (("yaml.empty", E, 1, 1),)),
    Bad("whitespace-only", "\n   \n\n", (("yaml.empty", E, 1, 1),)),
    Bad("only-document-marker", "---\n", (("yaml.empty", E, 1, 1),)),
    Bad(
        "multi-document",
        ORG + "spec:\n  mode: default\n---\n" + ORG + "spec:\n  mode: default\n",
        (("yaml.multi-document", E, 7, 1),),
        hint="---",
    ),
    Bad(
        "multi-document-explicit-start",
        "---\n" + ORG + "---\n" + ORG,
        (("yaml.multi-document", E, 6, 1),),
    ),
    Bad(
        "duplicate-key-top-level",
        ORG + "kind: OrgMailSettings\nspec:\n  mode: default\n",
        (("yaml.duplicate-key", E, 5, 1),),
        message="first defined at line 2",
    ),
    Bad(
        "duplicate-key-nested",
        ORG + "spec:\n  mode: default\n  mode: custom\n",
        (("yaml.duplicate-key", E, 7, 3),),
        message="first defined at line 6",
    ),
    Bad(
        "duplicate-key-deep",
        custom("    host: a.example\n    port: 587\n    port: 25\n"),
        (("yaml.duplicate-key", E, 10, 5),),
    ),
    Bad(
        "duplicate-key-flow",
        ORG + "spec: {mode: default, mode: custom}\n",
        (("yaml.duplicate-key", E, 5, 23),),
    ),
    Bad("billion-laughs", LAUGHS, (("yaml.aliases", E, 2, 4),), hint="anchors"),
    Bad(
        "node-count-cap",
        "a: [" + "0," * 20_001 + "]\n",
        (("yaml.too-large", E, 1, 40_001),),
    ),
    Bad(
        "deep-nesting-flow",
        "a: " + "[" * 40 + "]" * 40 + "\n",
        (("yaml.too-deep", E, 1, 36),),
    ),
    Bad(
        "deep-nesting-block",
        "".join("  " * i + f"k{i}:\n" for i in range(40)) + "  " * 40 + "leaf\n",
        (("yaml.too-deep", E, 34, 67),),
    ),
    Bad(
        "very-deep-nesting-parser-cap",
        "a: " + "[" * 100_000 + "]" * 100_000,
        (("yaml.syntax", E, 1, 1003),),
        message="nesting depth",
    ),
    Bad(
        "python-object-tag",
        ORG + "spec: !!python/object:os.system\n  mode: default\n",
        (("yaml.tag", E, 5, 7),),
    ),
    Bad(
        "python-object-apply-top-level",
        '!!python/object/apply:os.system ["echo pwned"]\n',
        (("yaml.tag", E, 1, 1),),
    ),
    Bad("binary-tag", ORG + "spec:\n  mode: !!binary ZGVmYXVsdA==\n", (("yaml.tag", E, 6, 9),)),
    Bad("local-tag", ORG + "spec:\n  mode: !Ref default\n", (("yaml.tag", E, 6, 9),)),
    Bad("set-tag", ORG + "spec: !!set {a, b}\n", (("yaml.tag", E, 5, 7),)),
    Bad(
        "non-string-key-sequence",
        ORG + "spec:\n  mode: default\n  [1, 2]: x\n",
        (("yaml.key-type", E, 7, 3),),
    ),
    Bad(
        "non-string-key-mapping",
        ORG + "spec:\n  mode: default\n  ? {a: b}\n  : x\n",
        (("yaml.key-type", E, 7, 5),),
    ),
    Bad(
        "integer-key",
        ORG + "spec:\n  mode: default\n  1: x\n",
        (("schema.unknown-property", E, 7, 3),),
    ),
    Bad("tab-indent", ORG + "spec:\n\tmode: default\n", (("yaml.syntax", E, 6, 1),)),
    Bad(
        "unclosed-quote",
        ORG + "spec:\n  mode: 'default\n",
        (("yaml.syntax", E, 7, 1),),
    ),
    Bad(
        "unquoted-colon-value",
        custom("    host: a.example\n    port: 587\n", "  from:\n    address: a: b@c.d\n"),
        (("yaml.syntax", E, 11, 15),),
        hint="quoted",
    ),
    # --- YAML 1.1 scalars stay strings (or are reported) ----------------------------------
    *(
        Bad(
            f"tls-{word}",
            custom(f"    host: a.example\n    port: 587\n    tls: {word}\n"),
            (("schema.enum", E, 10, 10),),
            message=f'"{word}"',
        )
        for word in ("on", "no", "off", "yes")
    ),
    Bad(
        "tls-true-is-a-boolean",
        custom("    host: a.example\n    port: 587\n    tls: true\n"),
        (("schema.enum", E, 10, 10), ("schema.type", E, 10, 10)),
    ),
    Bad(
        "port-octal",
        custom("    host: a.example\n    port: 0755\n"),
        (("schema.type", E, 9, 11),),
        message="no octal",
    ),
    Bad(
        "port-hex",
        custom("    host: a.example\n    port: 0x24b\n"),
        (("schema.type", E, 9, 11),),
        message='"0x24b"',
    ),
    Bad(
        "port-quoted",
        custom('    host: a.example\n    port: "587"\n'),
        (("schema.type", E, 9, 11),),
    ),
    Bad(
        "port-underscore",
        custom("    host: a.example\n    port: 5_87\n"),
        (("schema.type", E, 9, 11),),
    ),
    Bad(
        "port-bool",
        custom("    host: a.example\n    port: true\n"),
        (("schema.type", E, 9, 11),),
    ),
    Bad(
        "port-huge-integer",
        custom("    host: a.example\n    port: " + "9" * 5000 + "\n"),
        (("schema.type", E, 9, 11),),
    ),
    Bad(
        "timeout-sexagesimal",
        custom("    host: a.example\n    port: 587\n    timeoutMs: 22:22\n"),
        (("schema.type", E, 10, 16),),
        message='"22:22"',
    ),
    Bad(
        "mode-null",
        ORG + "spec:\n  mode: ~\n",
        (("schema.enum", E, 6, 9), ("schema.type", E, 6, 9)),
    ),
    # --- document shape -------------------------------------------------------------------
    Bad("top-level-list", "- apiVersion: mailctl/v1\n- kind: x\n", (("schema.type", E, 1, 1),)),
    Bad("top-level-scalar", "hello\n", (("schema.type", E, 1, 1),)),
    Bad("top-level-null", "~\n", (("schema.type", E, 1, 1),)),
    Bad(
        "wrong-api-version",
        "apiVersion: mailctl/v2\nkind: OrgMailSettings\nmetadata:\n  name: acme\n"
        "spec:\n  mode: default\n",
        (("schema.const", E, 1, 13),),
    ),
    Bad(
        "unknown-kind",
        "apiVersion: mailctl/v1\nkind: MailSettings\nspec:\n  mode: default\n",
        (("schema.kind", E, 2, 7),),
    ),
    Bad(
        "missing-kind",
        "apiVersion: mailctl/v1\nspec:\n  mode: default\n",
        (("schema.kind", E, 1, 1),),
    ),
    Bad(
        "unknown-property-did-you-mean",
        ORG + "spec:\n  mode: default\n  mdoe: custom\n",
        (("schema.unknown-property", E, 7, 3),),
        hint="did you mean 'mode'?",
    ),
    Bad(
        "unknown-property-in-smtp",
        custom("    host: a.example\n    port: 587\n    tsl: starttls\n"),
        (("schema.unknown-property", E, 10, 5),),
        hint="did you mean 'tls'?",
    ),
    Bad(
        "unknown-property-top-level",
        ORG + "spec:\n  mode: default\nstatus: {}\n",
        (("schema.unknown-property", E, 7, 1),),
    ),
    Bad(
        "missing-spec",
        ORG,
        (("schema.required", E, 1, 1),),
        message="'spec'",
    ),
    Bad(
        "missing-metadata",
        "apiVersion: mailctl/v1\nkind: OrgMailSettings\nspec:\n  mode: default\n",
        (("schema.required", E, 1, 1),),
        hint="metadata",
    ),
    Bad(
        "missing-mode",
        ORG + "spec:\n  probe:\n    to: p@acme.example\n",
        (("schema.required", E, 6, 3),),
    ),
    Bad(
        "ehlo-name-with-space",
        ORG + "spec:\n  mode: default\n  probe:\n    to: p@acme.example\n    ehloName: my host\n",
        (("schema.pattern", E, 9, 15),),
    ),
    Bad(
        "ehlo-name-unquoted-literal-is-a-list",
        ORG + "spec:\n  mode: default\n  probe:\n    to: p@acme.example\n"
        "    ehloName: [192.0.2.1]\n",
        (("schema.type", E, 9, 15),),
    ),
    Bad(
        "ehlo-name-trailing-newline",
        ORG + "spec:\n  mode: default\n  probe:\n    to: p@acme.example\n"
        '    ehloName: "mx.acme.example\\n"\n',
        (("schema.pattern", E, 9, 15),),
    ),
    Bad(
        "missing-port",
        custom("    host: a.example\n    tls: starttls\n"),
        (("schema.required", E, 8, 5),),
        message="'port'",
    ),
    Bad(
        "missing-from-address",
        custom("    host: a.example\n    port: 587\n", "  from:\n    displayName: Acme\n"),
        (("schema.required", E, 11, 5),),
    ),
    Bad(
        "default-mode-forbids-smtp",
        ORG + "spec:\n  mode: default\n  smtp:\n    host: a.example\n    port: 587\n",
        (("schema.forbidden", E, 7, 3),),
        hint="mode: custom",
    ),
    Bad(
        "default-mode-forbids-from",
        HOST + "spec:\n  mode: default\n  from:\n    address: a@b.example\n",
        (("schema.forbidden", E, 5, 3),),
    ),
    Bad(
        "custom-without-smtp-and-from",
        ORG + "spec:\n  mode: custom\n",
        (("schema.required", E, 6, 3), ("schema.required", E, 6, 3)),
        hint="mode: default",
    ),
    Bad(
        "custom-without-from",
        custom("    host: a.example\n    port: 587\n", ""),
        (("schema.required", E, 6, 3),),
        message="'from'",
    ),
    Bad(
        "bad-org-name",
        "apiVersion: mailctl/v1\nkind: OrgMailSettings\nmetadata:\n  name: Acme_Corp\n"
        "spec:\n  mode: default\n",
        (("schema.pattern", E, 4, 9),),
    ),
    Bad(
        "org-name-too-long",
        "apiVersion: mailctl/v1\nkind: OrgMailSettings\nmetadata:\n  name: "
        + "a" * 64
        + "\nspec:\n  mode: default\n",
        (("schema.length", E, 4, 9), ("schema.pattern", E, 4, 9)),
    ),
    Bad("mode-unknown", ORG + "spec:\n  mode: inherit\n", (("schema.enum", E, 6, 9),)),
    Bad("port-zero", custom("    host: a.example\n    port: 0\n"), (("schema.range", E, 9, 11),)),
    Bad(
        "port-too-high",
        custom("    host: a.example\n    port: 65536\n"),
        (("schema.range", E, 9, 11),),
    ),
    Bad(
        "timeout-too-low",
        custom("    host: a.example\n    port: 587\n    timeoutMs: 999\n"),
        (("schema.range", E, 10, 16),),
    ),
    Bad(
        "host-with-scheme",
        custom("    host: smtp://a.example\n    port: 587\n"),
        (("schema.pattern", E, 8, 11),),
    ),
    Bad(
        "from-address-without-at",
        custom("    host: a.example\n    port: 587\n", "  from:\n    address: notify\n"),
        (("schema.pattern", E, 11, 14),),
    ),
    # --- secrets ----------------------------------------------------------------------------
    Bad(
        "literal-password",
        custom(
            "    host: a.example\n    port: 587\n    auth:\n      username: u\n"
            "      password: hunter2\n"
        ),
        (("secret.literal", E, 12, 17),),
        hint="env:",
    ),
    Bad(
        "literal-numeric-password",
        custom(
            "    host: a.example\n    port: 587\n    auth:\n      username: u\n"
            "      password: 12345678\n"
        ),
        (("secret.literal", E, 12, 17),),
    ),
    Bad(
        "secret-ref-env-and-file",
        custom(
            "    host: a.example\n    port: 587\n    auth:\n      username: u\n"
            "      password: {env: SMTP_PW, file: /run/secrets/smtp}\n"
        ),
        (("secret.ref", E, 12, 17),),
    ),
    Bad(
        "secret-ref-neither",
        custom(
            "    host: a.example\n    port: 587\n    auth:\n      username: u\n      password: {}\n"
        ),
        (("secret.ref", E, 12, 17),),
    ),
    Bad(
        "secret-ref-unknown-key",
        custom(
            "    host: a.example\n    port: 587\n    auth:\n      username: u\n"
            "      password: {value: hunter2}\n"
        ),
        (("schema.unknown-property", E, 12, 18),),
    ),
    Bad(
        "secret-ref-bad-env-name",
        custom(
            "    host: a.example\n    port: 587\n    auth:\n      username: u\n"
            "      password: {env: 1-BAD}\n"
        ),
        (("schema.pattern", E, 12, 23),),
    ),
    Bad(
        "secret-file-outside-the-org-folder",
        custom(
            "    host: a.example\n    port: 587\n    auth:\n      username: u\n"
            "      password: {file: secrets/smtp}\n"
        ),
        (("secret.scope", E, 12, 24),),
    ),
    Bad(
        "auth-without-username",
        custom("    host: a.example\n    port: 587\n    auth:\n      password: {env: ACME_PW}\n"),
        (("schema.required", E, 11, 7),),
    ),
    # --- semantic rules -------------------------------------------------------------------
    Bad(
        "cleartext-auth-remote",
        custom(
            "    host: relay.example\n    port: 25\n    tls: none\n    auth:\n"
            "      username: u\n      password: {env: ACME_PW}\n"
        ),
        (("smtp.cleartext-auth", E, 10, 10),),
        message="relay.example",
    ),
    Bad(
        "gmail-sender-mismatch",
        custom(
            "    host: smtp.gmail.com\n    port: 587\n    auth:\n      username: a@gmail.com\n"
            "      password: {env: ACME_PW}\n",
            "  from:\n    address: b@gmail.com\n",
        ),
        (("gmail.sender-mismatch", E, 14, 14),),
    ),
    Bad(
        "gmail-without-auth",
        custom("    host: smtp.gmail.com\n    port: 587\n", "  from:\n    address: a@gmail.com\n"),
        (("gmail.sender-mismatch", E, 8, 5),),
        message="requires authentication",
    ),
    Bad(
        "port-465-starttls",
        custom("    host: a.example\n    port: 465\n    tls: starttls\n"),
        (("smtp.port-tls-mismatch", W, 10, 10),),
    ),
    Bad(
        "port-465-default-tls",
        custom("    host: a.example\n    port: 465\n"),
        (("smtp.port-tls-mismatch", W, 8, 5),),
    ),
    Bad(
        "port-587-implicit",
        custom("    host: a.example\n    port: 587\n    tls: implicit\n"),
        (("smtp.port-tls-mismatch", W, 10, 10),),
    ),
    Bad(
        "port-25-implicit",
        custom("    host: a.example\n    port: 25\n    tls: implicit\n"),
        (("smtp.port-tls-mismatch", W, 10, 10),),
    ),
    Bad(
        "office365-basic-auth",
        custom(
            "    host: smtp.office365.com\n    port: 587\n    auth:\n"
            "      username: n@contoso.example\n      password: {env: ACME_PW}\n",
            "  from:\n    address: n@contoso.example\n",
            HOST,
        ),
        (("office365.basic-auth", W, 9, 7),),
    ),
    Bad(
        "office365-oauth2-no-warning-but-http-token-url",
        custom(
            "    host: smtp.office365.com\n    port: 587\n    auth:\n"
            "      username: n@contoso.example\n      oauth2:\n"
            "        tokenUrl: http://login.example/t\n        clientId: abc\n"
            "        clientSecret: {env: CS}\n"
            "        scope: https://outlook.office365.com/.default\n",
            "  from:\n    address: n@contoso.example\n",
            HOST,
        ),
        (("oauth2.token-url-insecure", E, 11, 19),),
        message="not https",
    ),
    Bad(
        "oauth2-client-secret-literal",
        custom(
            "    host: smtp.office365.com\n    port: 587\n    auth:\n"
            "      username: n@contoso.example\n      oauth2:\n"
            "        tokenUrl: https://login.example/t\n        clientId: abc\n"
            "        clientSecret: s3cret-value\n"
            "        scope: https://outlook.office365.com/.default\n",
            "  from:\n    address: n@contoso.example\n",
            HOST,
        ),
        (("secret.literal", E, 13, 23),),
        message="clientSecret is a literal",
    ),
    Bad(
        "auth-password-and-oauth2",
        custom(
            "    host: smtp.office365.com\n    port: 587\n    auth:\n"
            "      username: n@contoso.example\n      password: {env: PW}\n"
            "      oauth2: {tokenUrl: 'https://l.example/t', clientId: a, "
            "clientSecret: {env: CS}, scope: s}\n",
            "  from:\n    address: n@contoso.example\n",
            HOST,
        ),
        (("schema.one-of", E, 9, 7),),
    ),
    Bad(
        "confirm-imap-and-maildir",
        custom(
            "    host: a.example\n    port: 587\n",
            "  from:\n    address: n@a.example\n  probe:\n    to: p@a.example\n"
            "    confirm:\n      maildir: /var/mail/probe\n"
            "      imap: {host: imap.a.example, port: 993, username: p, password: {env: IP}}\n",
        ),
        (("schema.one-of", E, 15, 7),),
        hint="Exactly one of `imap` or `maildir`",
    ),
    Bad(
        "confirm-imap-password-literal",
        custom(
            "    host: a.example\n    port: 587\n",
            "  from:\n    address: n@a.example\n  probe:\n    to: p@a.example\n"
            "    confirm:\n      imap:\n        host: imap.a.example\n        port: 993\n"
            "        username: probe\n        password: hunter2\n",
        ),
        (("secret.literal", E, 19, 19),),
    ),
    Bad(
        "confirm-imap-tls-none",
        custom(
            "    host: a.example\n    port: 587\n",
            "  from:\n    address: n@a.example\n  probe:\n    to: p@a.example\n"
            "    confirm:\n      imap: {host: i.a.example, port: 143, tls: none, "
            "username: p, password: {env: IP}}\n",
        ),
        (("schema.enum", E, 15, 49),),
    ),
    Bad(
        "domain-without-auth",
        custom("    host: a.example\n    port: 587\n    domain: CORP\n"),
        (("smtp.domain-without-auth", W, 10, 13),),
    ),
]


@pytest.mark.parametrize("case", CORPUS, ids=[c.id for c in CORPUS])
def test_corpus(case: Bad, tmp_path: Path) -> None:
    path = tmp_path / f"{case.id}.yaml"
    path.write_bytes(case.data())
    run = validate_paths([path])
    got = [(d.rule, d.severity.value, d.line, d.column) for d in run.result.sorted()]
    assert got == sorted(case.expect, key=lambda e: (e[2], e[3], e[0])), run.result.sorted()
    first = run.result.sorted()[0]
    assert case.message in first.message
    assert case.hint in first.hint
    assert first.file == str(path)
    for d in run.result.diagnostics:
        assert d.path.startswith("$")
        assert d.hint, f"{d.rule} has no hint"
        assert "hunter2" not in d.message + d.hint, "a secret value was printed"
        assert "12345678" not in d.message + d.hint, "a secret value was printed"
    assert run.result.valid() is not any(e[1] == E for e in case.expect)
    assert run.result.valid(strict=True) is False


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) + len(SET_CASES) >= 40
    assert len({c.id for c in CORPUS}) == len(CORPUS)


def test_corpus_covers_every_rule() -> None:
    from reconciler.rules import RULES

    covered = {e[0] for c in CORPUS for e in c.expect} | {r for _, _, r, _ in SET_CASES}
    assert {r.id for r in RULES} <= covered
    assert {"set.duplicate", "set.host-extra", "set.host-missing", "file.symlink-escape"} <= (
        covered
    )


# --- paths in the corpus: positions --------------------------------------------------------


def test_unknown_property_points_at_the_key_and_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "o.yaml"
    path.write_text(ORG + "spec:\n  mode: default\n  mdoe: custom\n")
    (d,) = validate_paths([path]).result.diagnostics
    assert (d.path, d.line, d.column) == ("$.spec.mdoe", 7, 3)


def test_missing_property_points_at_the_parent_mapping(tmp_path: Path) -> None:
    path = tmp_path / "o.yaml"
    path.write_text(custom("    host: a.example\n    tls: starttls\n"))
    (d,) = validate_paths([path]).result.diagnostics
    assert (d.path, d.line, d.column) == ("$.spec.smtp", 8, 5)


# --- good manifests: rules that must NOT fire ----------------------------------------------


GOOD = {
    "cleartext-auth-ipv4-loopback": custom(
        "    host: 127.0.0.1\n    port: 2525\n    tls: none\n    auth:\n"
        "      username: demo\n      password: {env: ACME_PW}\n"
    ),
    "cleartext-auth-ipv6-loopback": custom(
        "    host: '::1'\n    port: 2525\n    tls: none\n    auth:\n"
        "      username: demo\n      password: {env: ACME_PW}\n"
    ),
    "cleartext-auth-localhost": custom(
        "    host: localhost\n    port: 2525\n    tls: none\n    auth:\n"
        "      username: demo\n      password: {file: orgs/acme/smtp}\n"
    ),
    "cleartext-no-auth-relay": custom("    host: relay.example\n    port: 25\n    tls: none\n"),
    "gmail-case-insensitive-sender": custom(
        "    host: smtp.gmail.com\n    port: 587\n    auth:\n      username: Me@Gmail.com\n"
        "      password: {env: ACME_PW}\n",
        "  from:\n    address: me@gmail.com\n",
    ),
    "port-465-implicit": custom("    host: a.example\n    port: 465\n    tls: implicit\n"),
    "port-25-starttls": custom("    host: a.example\n    port: 25\n"),
    "domain-with-auth": custom(
        "    host: a.example\n    port: 587\n    domain: CORP\n    auth:\n"
        "      username: u\n      password: {env: ACME_PW}\n"
    ),
    "quoted-strings-stay-strings": ORG + "spec:\n  mode: 'default'\n",
    "flow-style-document": '{"apiVersion": "mailctl/v1", "kind": "OrgMailSettings", '
    '"metadata": {"name": "acme"}, "spec": {"mode": "default"}}',
    "utf8-bom-and-crlf": "\ufeff" + (ORG + "spec:\n  mode: default\n").replace("\n", "\r\n"),
    "small-anchor-use": ORG + "spec:\n  mode: &m default\n  probe: {to: &t p@a.example}\n",
    "host-default-with-probe": HOST + "spec:\n  mode: default\n  probe:\n    to: p@h.example\n",
    "ehlo-name-fqdn": ORG + "spec:\n  mode: default\n  probe:\n    to: p@a.example\n"
    "    ehloName: mailctl.acme.example\n",
    "ehlo-name-address-literal": ORG + "spec:\n  mode: default\n  probe:\n    to: p@a.example\n"
    "    ehloName: '[192.0.2.10]'\n",
    "ehlo-name-ipv6-literal": ORG + "spec:\n  mode: default\n  probe:\n    to: p@a.example\n"
    "    ehloName: '[IPv6:2001:db8::1]'\n",
}


@pytest.mark.parametrize("text", GOOD.values(), ids=GOOD.keys())
def test_good_manifest_has_no_diagnostics(text: str, tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8", newline="")
    run = validate_paths([path])
    assert run.result.diagnostics == []
    assert len(run.manifests) == 1


# --- set-wide rules ------------------------------------------------------------------------

HOST_OK = HOST + "spec:\n  mode: default\n"
ACME = ORG + "spec:\n  mode: default\n"
OTHER = ACME.replace("acme", "other")

# (id, files, rule, {file: line}) with the whole folder validated
SET_CASES: list[tuple[str, dict[str, str], str, dict[str, tuple[int, int]]]] = [
    (
        "duplicate-identity",
        {"host.yaml": HOST_OK, "orgs/acme.yaml": ACME, "orgs/acme-copy.yml": ACME},
        "set.duplicate",
        {"orgs/acme.yaml": (4, 9)},  # walk order is sorted: acme-copy.yml is first
    ),
    (
        "two-hosts",
        {"host.yaml": HOST_OK, "z-host.yaml": HOST_OK, "orgs/acme.yaml": ACME},
        "set.host-extra",
        {"z-host.yaml": (2, 7)},
    ),
    ("no-host", {"orgs/acme.yaml": ACME, "orgs/other.yaml": OTHER}, "set.host-missing", {}),
    ("symlink-escape", {"host.yaml": HOST_OK}, "file.symlink-escape", {"orgs/link.yaml": (1, 1)}),
]


def _write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


@pytest.mark.parametrize(
    ("cid", "files", "rule", "where"), SET_CASES, ids=[c[0] for c in SET_CASES]
)
def test_set_corpus(
    cid: str, files: dict[str, str], rule: str, where: dict[str, tuple[int, int]], tmp_path: Path
) -> None:
    root = tmp_path / "configs"
    _write_tree(root, files)
    if cid == "symlink-escape":
        outside = tmp_path / "outside.yaml"
        outside.write_text(ACME)
        (root / "orgs").mkdir()
        (root / "orgs" / "link.yaml").symlink_to(outside)
    run = validate_paths([root])
    diags = [d for d in run.result.diagnostics if d.rule == rule]
    assert len(diags) == 1, run.result.diagnostics
    assert run.result.diagnostics == diags, "nothing else may be reported"
    (d,) = diags
    assert d.severity.value == "error"
    for rel, (line, col) in where.items():
        assert (d.file, d.line, d.column) == (str(root / rel), line, col)
    if not where:
        assert (d.line, d.column) == (1, 1)


def test_duplicate_names_the_other_file(tmp_path: Path) -> None:
    _write_tree(tmp_path, {"host.yaml": HOST_OK, "a.yaml": ACME, "b.yaml": ACME})
    (d,) = validate_paths([tmp_path]).result.diagnostics
    assert d.file == str(tmp_path / "b.yaml")
    assert str(tmp_path / "a.yaml") in d.message


def test_no_host_is_fine_for_single_files(tmp_path: Path) -> None:
    _write_tree(tmp_path, {"acme.yaml": ACME, "other.yaml": OTHER})
    run = validate_paths([tmp_path / "acme.yaml", tmp_path / "other.yaml"])
    assert run.result.diagnostics == []


def test_single_files_are_checked_against_each_other(tmp_path: Path) -> None:
    _write_tree(tmp_path, {"a.yaml": ACME, "b.yaml": ACME, "h1.yaml": HOST_OK, "h2.yaml": HOST_OK})
    run = validate_paths([tmp_path / n for n in ("a.yaml", "b.yaml", "h1.yaml", "h2.yaml")])
    assert sorted(d.rule for d in run.result.diagnostics) == ["set.duplicate", "set.host-extra"]


def test_symlink_inside_the_folder_is_fine(tmp_path: Path) -> None:
    _write_tree(tmp_path, {"host.yaml": HOST_OK, "real/acme.yaml": ACME})
    (tmp_path / "acme.yaml").symlink_to(tmp_path / "real" / "acme.yaml")
    run = validate_paths([tmp_path])
    assert [d.rule for d in run.result.diagnostics] == ["set.duplicate"]  # same org twice


def test_all_problems_in_all_files_in_one_run(tmp_path: Path) -> None:
    """Every file of a broken folder is reported, not only the first problem."""
    root = tmp_path / "configs"
    for case in CORPUS:
        (root / f"{case.id}.yaml").parent.mkdir(parents=True, exist_ok=True)
        (root / f"{case.id}.yaml").write_bytes(case.data())
    run = validate_paths([root])
    per_file: dict[str, list[Diagnostic]] = {}
    for d in run.result.diagnostics:
        if not d.rule.startswith("set."):  # org/acme and hosts repeat across the corpus
            per_file.setdefault(os.path.basename(d.file), []).append(d)
    for case in CORPUS:
        got = sorted((d.rule, d.line, d.column) for d in per_file.get(f"{case.id}.yaml", []))
        want = sorted((r, line, col) for r, _, line, col in case.expect)
        assert got == want, case.id
    assert any(d.rule == "set.duplicate" for d in run.result.diagnostics)
    assert len(run.result.files) == len(CORPUS)


# --- the repository's own manifests --------------------------------------------------------

SHIPPED = sorted(
    str(p.relative_to(REPO)) for d in ("configs", "examples") for p in (REPO / d).rglob("*.y*ml")
)


@pytest.mark.parametrize("rel", SHIPPED)
def test_shipped_manifest_is_valid(rel: str) -> None:
    run = validate_paths([REPO / rel])
    assert run.result.errors == [], run.result.errors
    assert len(run.manifests) + len(run.targets) == 1


@pytest.mark.parametrize("folder", ["configs", "examples"])
def test_shipped_folder_is_a_valid_set(folder: str) -> None:
    run = validate_paths([REPO / folder])
    assert run.result.errors == []
    assert run.result.files


def test_configs_and_examples_are_strictly_clean() -> None:
    # The Office 365 example uses OAuth2, so not even office365.basic-auth warns.
    assert validate_paths([REPO / "configs"]).result.diagnostics == []
    assert validate_paths([REPO / "examples"]).result.diagnostics == []
