"""The status page (``/ui``) in a real headless Chromium against a real daemon process on
generated configs: counts, search, a stalled scope, a failed probe, secrets, hostile text,
keyboard use and the bearer token."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests import manifests
from tests.fixtures_browser import (  # noqa: F401 - fixtures
    HOSTILE_REPLY,
    axe_script,
    browser_fixture,
    hostile_smtp,
    session,
)
from tests.fixtures_daemon import (
    DaemonProc,
    SinkProc,
    StartDaemon,
    atomic_write,
    custom_org,
    free_port,
    wait_for,
    write_configs,
)

HOSTILE_NAME = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
CARDS = ("total", "ready", "stalled", "probeFailed", "notSynced", "suspended")


def _status(d: DaemonProc) -> dict[str, Any]:
    proc = d.mailctl("status", "--store", str(d.store), "--format", "json")
    assert proc.returncode in (0, 3), proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def _expected_counts(status: dict[str, Any]) -> dict[str, int]:
    """The overview's cards, computed from ``mailctl status --format json``."""
    scopes = status["scopes"]

    def true(s: dict[str, Any], name: str) -> bool:
        return bool(s["conditions"].get(name, {}).get("status") == "True")

    return {
        "total": len(scopes),
        "ready": sum(true(s, "Ready") for s in scopes),
        "stalled": sum(true(s, "Stalled") for s in scopes),
        "probeFailed": sum(bool(s["probe"] and s["probe"]["status"] == "failed") for s in scopes),
        "notSynced": sum(
            any(
                k.split("/")[0] == "Synced" and v["status"] == "False"
                for k, v in s["conditions"].items()
            )
            for s in scopes
        ),
        "suspended": len(scopes) if status["suspended"] else 0,
    }


def _write_fleet(root: Path, sink: SinkProc, hostile_port: int) -> Path:
    configs = write_configs(root, sink.port)
    host = configs / "host.yaml"  # the host's probes confirm delivery in the sink's Maildir
    host.write_text(host.read_text() + f"    confirm:\n      maildir: {sink.maildir}\n")
    orgs = configs / "orgs"
    (orgs / "deadend.yaml").write_text(custom_org("deadend", free_port()))
    hostile = manifests.org(
        "hostile", "custom", port=hostile_port, tls="none", display_name=json.dumps(HOSTILE_NAME)
    )
    (orgs / "hostile.yaml").write_text(hostile)
    return configs


def _settled(d: DaemonProc) -> bool:
    return all(r.probe is not None for r in d.scopes().values())


def _shown(page: Any, scope: str) -> None:
    """Wait until the scope page shows ``scope``: navigating by hash re-renders the page in
    place, so until then the previous scope's detail is still in the DOM."""
    page.wait_for_selector(f'#scope-title:text-is("{scope}")')


def _stalled(d: DaemonProc, scope: str) -> bool:
    return any(
        s["scope"] == scope and s["conditions"]["Stalled"]["status"] == "True"
        for s in _status(d)["scopes"]
    )


def test_status_page_in_chromium(
    tmp_path: Path, sink: SinkProc, start_daemon: StartDaemon, browser: Any
) -> None:
    with hostile_smtp() as hostile_port:
        configs = _write_fleet(tmp_path, sink, hostile_port)
        d = start_daemon(configs)
        wait_for("every probe stored", lambda: _settled(d), timeout=20)
    # A manifest broken after its first apply: the scope is held, Stalled, with file:line.
    atomic_write(configs / "orgs" / "umbrella.yaml", "apiVersion: mailctl/v1\nkind: Org\n")
    wait_for("umbrella stalled", lambda: _stalled(d, "org/umbrella"), timeout=10)
    expected = _expected_counts(_status(d))
    assert expected["stalled"] == 1 and expected["probeFailed"] == 2  # deadend, hostile

    with session(browser) as s:
        page = s.page
        page.goto(d.url("/ui"))
        page.wait_for_selector("#count-total")
        page.wait_for_selector("#scope-table")
        shown = {k: int(page.get_attribute(f"#count-{k}", "data-count") or -1) for k in CARDS}
        assert shown == expected
        assert page.text_content("#count-stalled .value") == str(expected["stalled"])
        assert page.text_content("#revision") == "test-rev"
        assert page.locator("#latency-chart svg rect.bar").count() == 11

        # Search by name finds the org (Enter submits at once).
        page.fill("#filter-q", "globex")
        page.press("#filter-q", "Enter")
        page.wait_for_selector('#scope-results[data-total="1"]')
        assert page.locator("#scope-table tbody tr").count() == 1
        assert page.text_content("#scope-table tbody th") == "org/globex"
        assert "q=globex" in page.url

        # The broken manifest: Stalled, with its file:line:column.
        page.fill("#filter-q", "")
        page.select_option("#filter-condition", "stalled")
        page.wait_for_selector('#scope-results[data-total="1"]')
        row = page.locator('tr[data-scope="org/umbrella"]')
        assert "Stalled" in row.locator(".badge").text_content()
        assert re.search(r"umbrella\.yaml:\d+:\d+", row.locator(".message").text_content())

        # The failed probe: its class and stage, in the table and on the scope page.
        page.select_option("#filter-condition", "probe_failed")
        page.wait_for_selector('#scope-results[data-total="2"]')
        assert (
            "connect_refused at connect"
            in page.locator('tr[data-scope="org/deadend"]').text_content()
        )
        page.click('tr[data-scope="org/deadend"] a')
        page.wait_for_selector("#scope-detail .probe-class")
        assert page.text_content("#scope-detail .probe-class") == "connect_refused"
        assert page.text_content("#scope-detail .probe-stage") == "connect"
        assert page.locator("#probes svg.stages rect.bar").count() >= 1
        dom = [page.content()]

        # Delivery confirmation of the host's probe (Maildir of the sink).
        page.goto(d.url("/ui/#/scope/host"))
        _shown(page, "host")  # a hash change re-renders in place: wait for the new scope
        page.wait_for_selector("#scope-detail .probe-delivery")
        assert re.match(r"✓ delivered in \d", page.text_content(".probe-delivery") or "")
        assert "confirm" in page.get_attribute("#probes svg.stages", "aria-label")

        # Hostile strings render as text: the display name and the server's reply.
        page.goto(d.url("/ui/#/scope/org%2Fhostile"))
        _shown(page, "org/hostile")
        page.wait_for_selector("#settings-table")
        page.wait_for_selector("#scope-detail .probe-message")
        assert HOSTILE_NAME in page.text_content("#settings-table")
        assert HOSTILE_REPLY.split(" ", 1)[1] in page.text_content(".probe-message")
        assert page.text_content("#scope-detail .probe-class") == "sender_rejected"
        assert page.evaluate("window.__pwned") is None
        assert page.locator("script").count() == 1  # app.js only
        assert page.locator('img[src="x"]').count() == 0
        dom.append(page.content())

        # The scope with the secret: a reference, never the value.
        page.goto(d.url("/ui/#/scope/org%2Finitech"))
        _shown(page, "org/initech")
        page.wait_for_selector("#settings-table")
        assert "env:INITECH_SMTP_PASSWORD" in page.text_content("#settings-table")
        assert "secret reference" in page.text_content("#settings-table")
        dom.append(page.content())

        assert s.errors == [] and s.csp_violations() == 0
        for html in dom:
            assert sink.secret not in html
        for url, body in s.bodies():
            assert sink.secret.encode() not in body, url
        headers = s.responses[-1].all_headers()
        assert headers["content-security-policy"].startswith("default-src 'self'")


def test_keyboard_only_navigation(default_daemon: DaemonProc, browser: Any) -> None:
    d = default_daemon
    with session(browser) as s:
        page = s.page
        page.goto(d.url("/ui/"))
        page.wait_for_selector("#scope-table")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "skip"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
        # Tab to the search box, type, Enter; then Tab on to the first result and open it.
        page.focus("#filter-q")
        page.keyboard.type("initech")
        page.keyboard.press("Enter")
        page.wait_for_selector('#scope-results[data-total="1"]')
        for _ in range(12):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent") == "org/initech":
                break
        page.keyboard.press("Enter")
        page.wait_for_selector("#scope-title")
        assert page.evaluate("document.activeElement.id") == "scope-title"
        # Sort buttons are buttons with aria-sort on their header.
        page.go_back()
        page.wait_for_selector("#scope-table")
        assert page.get_attribute('th[data-sort="name"]', "aria-sort") == "ascending"
        for label in ("Search by name", "Condition", "Failure class"):
            assert page.get_by_label(label, exact=True).count() == 1


def test_page_needs_the_token_off_loopback(
    tmp_path: Path, sink: SinkProc, start_daemon: StartDaemon, browser: Any
) -> None:
    token = "ui-token-" + "ab12" * 6
    (tmp_path / "token").write_text(token)
    port = free_port()
    d = start_daemon(
        write_configs(tmp_path, sink.port),
        wait_ready=False,
        extra=("--listen", f"0.0.0.0:{port}", "--api-token-file", str(tmp_path / "token")),
    )
    base = f"http://127.0.0.1:{port}"
    with session(browser) as s:
        wait_for("daemon listening", lambda: _try_goto(s.page, base + "/healthz"), timeout=15)
        assert s.page.goto(base + "/ui/").status == 401
    with session(browser, token=token) as s:
        s.page.goto(base + "/ui")
        s.page.wait_for_selector("#scope-table")
        assert s.page.get_attribute("#count-total", "data-count") == "5"
    assert d.proc.poll() is None


def _try_goto(page: Any, url: str) -> bool:
    try:
        return bool(page.goto(url).status == 200)
    except Exception:  # connection refused while the daemon starts
        return False


def test_axe_finds_no_accessibility_violation(
    tmp_path: Path, sink: SinkProc, start_daemon: StartDaemon, browser: Any
) -> None:
    """axe-core (WCAG 2.x A/AA rules) on the overview and on a scope page."""
    axe = axe_script()
    configs = write_configs(tmp_path, sink.port)
    (configs / "orgs" / "deadend.yaml").write_text(custom_org("deadend", free_port()))
    d = start_daemon(configs)
    wait_for("every probe stored", lambda: _settled(d), timeout=20)
    with session(browser, audit=True) as s:
        for path, ready in (("/ui/", "#scope-table"), ("/ui/#/scope/org%2Fdeadend", "#probes")):
            s.page.goto(d.url(path))
            s.page.wait_for_selector(ready)
            s.page.add_script_tag(path=str(axe))
            result = s.page.evaluate(
                "() => axe.run(document, {runOnly: {type: 'tag', values:"
                " ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
            )
            problems = [
                (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
                for v in result["violations"]
            ]
            assert problems == [], path
            assert len(result["passes"]) > 20


def test_suspension_shows_with_its_reason_as_text(default_daemon: DaemonProc, browser: Any) -> None:
    d = default_daemon
    reason = "<script>window.__pwned=5</script> DB migration"
    proc = d.mailctl("suspend", "--store", str(d.store), "--reason", reason)
    assert proc.returncode == 0, proc.stderr
    expected = _expected_counts(_status(d))
    assert expected["suspended"] == expected["total"] == 5
    with session(browser) as s:
        s.page.goto(d.url("/ui/"))
        s.page.wait_for_selector("#overview .banner")
        assert reason in s.page.text_content("#overview .banner")
        assert s.page.get_attribute("#count-suspended", "data-count") == "5"
        assert s.page.evaluate("window.__pwned") is None and s.csp_violations() == 0
