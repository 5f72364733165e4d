"""Status page benchmark: first paint of the overview and a search at N scopes, in Chromium.

    .venv/bin/python bench/bench_ui.py --orgs 100000 [--custom 0.02] [--runs 7]
    .venv/bin/python bench/bench_ui.py --orgs 10000 --custom 0.2 --screenshots docs/img

Public tools only: a generated configs folder, a real ``mailctl sink`` (plain SMTP) and a
real ``mailctl daemon`` (probes on: custom orgs send real probes to the sink, some to a
closed port, a few manifests are broken), Debian's Chromium driven by Playwright.

Measured, each the median of ``--runs``:
- ``first paint``: a fresh browser context opens ``/ui``; from ``goto`` until the overview
  counts and the first page of the scopes table are in the DOM (wall clock in Python);
- ``search``: in the page, from submitting the search form until the table shows the
  result (``performance.now()`` in the page: request, server, JSON, render);
- the read API alone, over HTTP from Python: ``/v1/summary`` and ``/v1/scopes?q=``.
The index is built on the first API request (its time is reported as ``cold``), so the
runs measure what an operator sees once the daemon has answered once.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import free_port, http_get, memory_mib, stop
from bench.gen import org_name

HOST = """\
apiVersion: mailctl/v1
kind: HostMailSettings
spec:
  mode: custom
  smtp: {{host: 127.0.0.1, port: {port}, tls: none, timeoutMs: 10000}}
  from: {{address: notify@platform.example, displayName: Platform Notifications}}
  probe: {{to: mail-probe@platform.example}}
"""
DEFAULT_ORG = "apiVersion: mailctl/v1\nkind: OrgMailSettings\nmetadata: {{name: {name}}}\n"
DEFAULT_ORG += "spec: {{mode: default}}\n"
CUSTOM_ORG = """\
apiVersion: mailctl/v1
kind: OrgMailSettings
metadata: {{name: {name}}}
spec:
  mode: custom
  smtp: {{host: 127.0.0.1, port: {port}, tls: none, timeoutMs: 5000}}
  from: {{address: alerts@{name}.example, displayName: {title} Alerts}}
  probe: {{to: probe@{name}.example}}
"""
BROKEN_ORG = "apiVersion: mailctl/v1\nkind: OrgMailSettings\nmetadata: {{name: {name}}}\n"
BROKEN_ORG += "spec:\n  mode: custom\n"  # custom without smtp/from: invalid, held


def generate(out: Path, orgs: int, custom: float, sink: int, refused: int, seed: int = 1) -> None:
    """One host and ``orgs`` orgs: ``custom`` of them custom (94 % to the sink, 6 % to a
    closed port), 0.1 % broken manifests, the rest inheriting."""
    rng = random.Random(seed)
    (out / "orgs").mkdir(parents=True)
    (out / "host.yaml").write_text(HOST.format(port=sink))
    for i in range(orgs):
        name = org_name(i)
        roll = rng.random()
        if roll < 0.001:
            text = BROKEN_ORG.format(name=name)
        elif roll < 0.001 + custom:
            port = refused if rng.random() < 0.06 else sink
            text = CUSTOM_ORG.format(name=name, port=port, title=name.title())
        else:
            text = DEFAULT_ORG.format(name=name)
        (out / "orgs" / f"{name}.yaml").write_text(text)


def _get(url: str) -> tuple[int, bytes]:
    return http_get(url, timeout=120)


def _wait(what: str, check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    print(f"  (gave up waiting for {what} after {timeout:.0f}s; measuring anyway)")


def _median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples):7.1f} ms (min {min(samples):.1f}, max {max(samples):.1f})"


def _first_paint(browser: Any, url: str) -> float:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("#count-total")
    page.wait_for_selector("#scope-table")
    took = (time.perf_counter() - t0) * 1000
    context.close()
    return took


SEARCH_JS = """async (q) => {
  const input = document.getElementById('filter-q');
  const done = new Promise(r => document.addEventListener('mailctl:table', e => r(e.detail),
                                                          {once: true}));
  const t0 = performance.now();
  input.value = q;
  input.form.requestSubmit();
  const detail = await done;
  return [performance.now() - t0, detail.total];
}"""


def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="mailctl-bench-ui-"))
    sink_port, refused, http = free_port(), free_port(), free_port()
    configs = tmp / "configs"
    generate(configs, args.orgs, args.custom, sink_port, refused)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILCTL_")}
    py = [sys.executable, "-m", "reconciler"]
    sink = subprocess.Popen(
        [*py, "sink", "--listen", f"127.0.0.1:{sink_port}", "--maildir", str(tmp / "mail")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    err = (tmp / "daemon.err").open("wb")
    daemon = subprocess.Popen(
        [
            *py,
            "daemon",
            "--configs",
            str(configs),
            "--store",
            str(tmp / "store.db"),
            "--listen",
            f"127.0.0.1:{http}",
            "--interval",
            "1h",
            "--revision",
            "bench-ui",
        ],
        stdout=subprocess.DEVNULL,
        stderr=err,
        env=env,
        cwd=tmp,
    )
    base = f"http://127.0.0.1:{http}"
    results: dict[str, Any] = {"orgs": args.orgs, "custom": args.custom}
    try:
        t0 = time.monotonic()
        _wait("/readyz", lambda: _get(base + "/readyz")[0] == 200, 1800)
        results["ready_s"] = time.monotonic() - t0
        results["rss_before_api_mib"] = memory_mib(daemon.pid)
        t0 = time.perf_counter()
        summary = json.loads(_get(base + "/v1/summary")[1])
        results["cold_summary_ms"] = (time.perf_counter() - t0) * 1000
        results["rss_after_index_mib"] = memory_mib(daemon.pid)

        def probed() -> bool:
            data = json.loads(_get(base + "/v1/summary")[1] or b"{}")
            counts = data.get("counts", {})
            return bool(counts) and counts["unprobed"] <= counts["held"]

        _wait("every probe", probed, args.probe_wait)
        time.sleep(3.5)  # let the last index rebuild settle
        summary = json.loads(_get(base + "/v1/summary")[1])
        results["summary"] = {k: summary[k] for k in ("total", "counts", "classes")}
        results["latency"] = summary["latency"]

        api_summary, api_search = [], []
        for i in range(args.runs):
            t = time.perf_counter()
            _get(base + "/v1/summary")
            api_summary.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            _get(base + f"/v1/scopes?q={org_name(i * 997 % args.orgs)}")
            api_search.append((time.perf_counter() - t) * 1000)
        results["api_summary_ms"] = api_summary
        results["api_search_ms"] = api_search

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, headless=True)
            paints = [_first_paint(browser, base + "/ui/") for _ in range(args.runs)]
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(base + "/ui/")
            page.wait_for_selector("#scope-table")
            searches, broad = [], []
            for i in range(args.runs):
                took, total = page.evaluate(SEARCH_JS, org_name((i * 7919) % args.orgs))
                assert total == 1, total  # every generated org is a scope, broken ones too
                searches.append(took)
                took, total_broad = page.evaluate(SEARCH_JS, f"{i % 10}7")
                broad.append(took)
            results["first_paint_ms"] = paints
            results["search_ms"] = searches
            results["search_broad_ms"] = broad
            results["search_broad_hits"] = total_broad
            if args.screenshots:
                shoot(page, base, Path(args.screenshots), args)
            browser.close()
        results["daemon_rss_mib"] = memory_mib(daemon.pid)
    finally:
        for proc in (daemon, sink):
            stop(proc, timeout=20)
        err.close()
    return results


def shoot(page: Any, base: str, out: Path, args: argparse.Namespace) -> None:
    out.mkdir(parents=True, exist_ok=True)
    page.goto(base + "/ui/")
    page.wait_for_selector("#scope-table")
    page.evaluate(SEARCH_JS, "")
    page.screenshot(path=str(out / "ui-overview.png"), full_page=False)
    failed = json.loads(_get(base + "/v1/scopes?condition=probe_failed&limit=1")[1])
    scope = failed["items"][0]["scope"] if failed["items"] else "host"
    page.goto(base + "/ui/#/scope/" + scope.replace("/", "%2F"))
    page.wait_for_selector("#probes")
    page.screenshot(path=str(out / "ui-scope.png"), full_page=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=100_000)
    parser.add_argument("--custom", type=float, default=0.02)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--probe-wait", type=float, default=600.0)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--screenshots", default=None, help="write ui-*.png into this folder")
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()}")
    r = run(args)
    print(f"orgs={r['orgs']} custom={r['custom']} ready after {r['ready_s']:.1f}s")
    print(f"summary: total={r['summary']['total']} counts={r['summary']['counts']}")
    print(f"classes: {r['summary']['classes']}  probes: {r['latency']['probes']}")
    print(f"cold /v1/summary (index build) {r['cold_summary_ms']:.0f} ms")
    print(f"API  /v1/summary            {_median_ms(r['api_summary_ms'])}")
    print(f"API  /v1/scopes?q=org-NNNNN {_median_ms(r['api_search_ms'])}")
    print(f"first paint (overview+table) {_median_ms(r['first_paint_ms'])}   target < 1000 ms")
    print(f"search, one hit              {_median_ms(r['search_ms'])}   target < 300 ms")
    print(f"search, NN7 ({r['search_broad_hits']} hits)   {_median_ms(r['search_broad_ms'])}")
    print(f"daemon memory (MiB): ready, before any API call {r['rss_before_api_mib']}; after")
    print(f"  the first index build {r['rss_after_index_mib']}; at the end {r['daemon_rss_mib']}")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
