"""``reconciler.reporters.escape``: untrusted text rendered harmlessly, in terminals
(control characters) and in pull-request Markdown (HTML, Markdown, mentions)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from reconciler.reporters.escape import md_code, md_fence, term
from tests import manifests
from tests.fixtures_cli import Mailctl
from tests.fixtures_repo import ConfigRepo
from tests.fixtures_smtp import RunningServer, ServerSpec

FORGED = "maintenance\x1b[2J\x1b[H\rOK: all scopes ready\nREADY\u202egnp.exe\x07"
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain text", "plain text"),
        ("a\nb", "a\\nb"),
        ("\x1b[31mred", "\\e[31mred"),
        ("cr\rover", "cr\\rover"),
        ("nul\x00", "nul\\x00"),
        ("c1\x9b", "c1\\x9b"),
        ("bidi\u202eevil", "bidi\\u202eevil"),
        ("sep\u2028x", "sep\\u2028x"),
        ("ünïcödé ✓", "ünïcödé ✓"),
    ],
)
def test_term_shows_every_control_character_as_an_escape(raw: str, shown: str) -> None:
    assert term(raw) == shown
    assert not CONTROL.search(term(raw)) and "\n" not in term(raw)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("x", "`x`"),
        ("a `b` c", "``a `b` c``"),
        ("`edge", "`` `edge ``"),
        ("``x``", "``` ``x`` ```"),
        ("</details><img src=x>", "`</details><img src=x>`"),
        ("line\nbreak", "`line\\nbreak`"),
    ],
)
def test_md_code_is_one_code_span_whatever_the_text(raw: str, code: str) -> None:
    assert md_code(raw) == code


def test_md_fence_is_longer_than_any_backtick_run() -> None:
    assert md_fence(["plain"]) == "```"
    assert md_fence(["a ```` b"]) == "`````"


def _outside_code(markdown: str) -> str:
    """The Markdown with fenced blocks and code spans removed (CommonMark rules for
    backtick runs): what a renderer would interpret as HTML/Markdown."""
    out: list[str] = []
    fence: str | None = None
    for line in markdown.splitlines():
        stripped = line.lstrip(" ")
        if fence is None and stripped.startswith("```"):
            fence = re.match("`+", stripped).group()  # type: ignore[union-attr]
            continue
        if fence is not None:
            if stripped.startswith(fence) and stripped.strip("`") == "":
                fence = None
            continue
        rest, i = [], 0
        while i < len(line):
            if line[i] == "`":
                run = re.match("`+", line[i:]).group()  # type: ignore[union-attr]
                end = line.find(run, i + len(run))
                while end != -1 and line[end + len(run) : end + len(run) + 1] == "`":
                    end = line.find(run, end + len(run) + 1)
                if end != -1:
                    i = end + len(run)
                    continue
                rest.append(run)
                i += len(run)
                continue
            rest.append(line[i])
            i += 1
        out.append("".join(rest))
    assert fence is None, "an unclosed code fence swallows the rest of the comment"
    return "\n".join(out)


def test_hostile_markdown_in_diagnostics_is_escaped_in_diff(
    repo: ConfigRepo, mailctl: Mailctl
) -> None:
    hostile = "</details><img src=x onerror=alert(1)> @octocat `rm -rf` **bold** [x](http://e)"
    repo.write("orgs/acme.yaml", manifests.org("acme").replace("mode: default", "mode: hostile"))
    repo.write(
        "orgs/globex.yaml",
        manifests.org("globex", "custom", port=2526, sender='"' + hostile.replace('"', "") + '"'),
    )
    repo.write("orgs/<img src=y>@octocat.yaml", "kind: [\n")
    shown = '"```\n</details><img src=z> @octocat"'  # valid: lands in the diff block
    repo.write("orgs/initech.yaml", manifests.org("initech", "custom", display_name=shown))
    md = mailctl("diff", "--base", "HEAD", "--format", "markdown", expect=1).stdout
    assert "<img" in md and "@octocat" in md  # the text is there, for people to read ...
    visible = _outside_code(md)
    assert "<img" not in visible and "@octocat" not in visible  # ... but never interpreted
    assert "**bold**" not in visible and "rm -rf" not in visible
    assert visible.count("</details>") == visible.count("<details")
    assert visible.count(" is held (") == 2 and visible.count(" is invalid: ") == 1
    assert "+ initech" not in visible  # the create is in the diff block ...
    assert "org/initech" in md and "Plan: 1 to create" in md  # ... which is there


@pytest.fixture
def hostile_server(smtp_server: Callable[[ServerSpec], RunningServer]) -> RunningServer:
    return smtp_server(ServerSpec(mail_replies=["550 5.7.1 \x1b[2Jno\x1b]0;pwned\x07 way"] * 20))


def test_suspend_reason_revision_and_server_replies_are_harmless_in_a_terminal(
    repo: ConfigRepo, mailctl: Mailctl, hostile_server: RunningServer
) -> None:
    repo.write(
        "orgs/globex.yaml", manifests.org("globex", "custom", port=hostile_server.port, tls="none")
    )
    revision = "v1\x1b[2K\rforged: Apply complete!\x1b[0m"
    applied = mailctl("apply", "--probe", "off", "--revision", revision, expect=0).stdout
    probe = mailctl("probe", "org/globex", expect=3).stdout
    assert "sender_rejected" in probe
    mailctl("suspend", "--reason", FORGED, expect=0)
    outputs = {
        "apply": applied,
        "probe": probe,
        "status": mailctl("status", expect=3).stdout,
        "history": mailctl("history", expect=0).stdout,
        "suspend": mailctl("suspend", "--reason", FORGED, expect=0).stdout,
        "refused": mailctl("apply", expect=1).stderr,
    }
    for name, text in outputs.items():
        assert not CONTROL.search(text), (name, text)
        assert "\x1b" not in text and "\r" not in text, name
    status = outputs["status"]
    suspended = [line for line in status.splitlines() if line.startswith("SUSPENDED")]
    assert len(suspended) == 1 and suspended[0].endswith("READY\\u202egnp.exe\\x07")
    assert "OK: all scopes ready\\nREADY" in suspended[0]
    assert not any(line.startswith(("OK:", "READY", "forged")) for line in status.splitlines())
    assert "v1\\e[2K\\rforged: Apply complete!\\e[0m" in outputs["apply"]
    assert "pwned" in probe and "way" in probe  # the server's text, without its controls
    # JSON keeps the exact text (its encoder escapes control characters itself).
    assert mailctl.json("status", expect=3)["suspend"]["reason"] == FORGED
