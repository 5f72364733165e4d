"""A real headless Chromium for the status-page tests, driven with Playwright.

Debian's ``chromium`` (``/usr/bin/chromium``, installed by ``.ci/install-servers``) is
launched through Playwright's Python package with ``executable_path`` — Playwright's own
browser downloads are never used. Without Chromium or the package the tests skip with the
reason, and fail instead under ``MAILCTL_REQUIRE_BROWSER=1`` (``.ci/run``).

Also here: a hostile SMTP server whose replies carry markup, for the escaping tests.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_smtp import tcp_server
from tests.realservers import REPO, unavailable

FLAG = "MAILCTL_REQUIRE_BROWSER"
HOSTILE_REPLY = "550 5.7.1 <script>window.__pwned=3</script><b>sender</b> denied"


def chromium_path() -> str:
    found = os.environ.get("MAILCTL_CHROMIUM") or shutil.which("chromium")
    if not found and os.access("/usr/bin/chromium", os.X_OK):
        found = "/usr/bin/chromium"
    if not found:
        unavailable(FLAG, "chromium not found: apt-get install chromium (.ci/install-servers)")
    return found


@pytest.fixture(scope="module", name="browser")
def browser_fixture() -> Iterator[Any]:
    """One headless Chromium per test module."""
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable(FLAG, "the playwright package is missing: pip install playwright")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=path, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Session:
    """A page plus everything the browser received and any CSP violation it reported."""

    page: Any
    responses: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def bodies(self) -> Iterator[tuple[str, bytes]]:
        for resp in self.responses:
            if 300 <= resp.status < 400:
                continue  # a redirect has no body to read
            yield resp.url, resp.body()

    def csp_violations(self) -> int:
        return int(self.page.evaluate("window.__csp || 0"))


def axe_script() -> Path:
    """axe-core (npm, installed into .tools/ by .ci/install-servers)."""
    path = REPO / ".tools/node_modules/axe-core/axe.min.js"
    if not path.is_file():
        unavailable(FLAG, "axe-core not found: npm install --prefix .tools axe-core@4.14.1")
    return path


@contextmanager
def session(browser: Any, token: str | None = None, *, audit: bool = False) -> Iterator[Session]:
    """A fresh browser context; ``audit`` lets the test inject axe-core, which the page's
    Content-Security-Policy would rightly refuse (the policy is checked in other tests)."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, extra_http_headers=headers, bypass_csp=audit
    )
    # Count CSP violations (an inline script or style the page tried): the page has none.
    context.add_init_script(
        "window.__csp = 0; document.addEventListener('securitypolicyviolation',"
        " () => { window.__csp += 1; });"
    )
    page = context.new_page()
    sess = Session(page)
    page.on("response", lambda resp: sess.responses.append(resp))
    page.on("pageerror", lambda exc: sess.errors.append(str(exc)))
    try:
        yield sess
    finally:
        context.close()


@contextmanager
def hostile_smtp() -> Iterator[int]:
    """An SMTP server on loopback whose banner and MAIL reply carry HTML/script markup."""

    def talk(conn: socket.socket) -> None:
        with conn.makefile("rwb", buffering=0) as io:
            io.write(b"220 <script>window.__pwned=4</script> hostile ESMTP\r\n")
            for raw in io:
                verb = raw[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    io.write(b"250-hostile <img src=x onerror=alert(1)>\r\n250 8BITMIME\r\n")
                elif verb == b"MAIL":
                    io.write(HOSTILE_REPLY.encode() + b"\r\n")
                elif verb == b"QUIT":
                    io.write(b"221 bye\r\n")
                    return
                else:
                    io.write(b"250 ok\r\n")

    with tcp_server(talk) as port:
        yield port
