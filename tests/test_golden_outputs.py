"""Golden JSON outputs of every store-facing command on the demo configs (``configs/``).

The refactor of the command shell (issue 9) must not change one byte of what scripts read:
this test runs ``mailctl`` as a real process over a copy of the demo configs in a real git
repository, against a real SQLite store and the real SMTP sink, and compares each output
with ``tests/golden/<name>.json`` (and a few text/Markdown renderings with ``.txt``).

Normalised (and only these, because they change from run to run):
- timestamps (any ISO-8601 UTC string, e.g. ``at``, ``lastAppliedAt``) -> ``<time>``;
- ``probe_id`` values and the id in condition messages (``probe <id> passed``) ->
  ``<probe-id>``; the numbers in ``latency_ms`` and ``deliveryMs``
  -> ``<ms>`` (the stage names in ``latency_ms`` are kept);
- in probe messages, the sink's Maildir key (``250 2.0.0 OK stored <maildir-key>``) and
  ``after N ms``;
- the sink's ephemeral port -> ``2525`` (the demo configs' port; the copy points at the
  sink started for this test), and the temporary folder -> ``<tmp>``.

Regenerate (only for an intended output change, and say so in the commit):
``MAILCTL_UPDATE_GOLDEN=1 python -m pytest tests/test_golden_outputs.py``.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.devtools.sink import Sink, SinkConfig, SinkUser
from tests.fixtures_repo import GIT_ENV

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("MAILCTL_UPDATE_GOLDEN") == "1"
DEMO_PASSWORD = "golden-demo-password"
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z$")
_MAILDIR_KEY = re.compile(r"\b\d+\.M\d+P\d+Q\d+\.\S+?(?=\))")  # the sink's reply
_AFTER_MS = re.compile(r"after \d+(?:\.\d+)? ms")
_PROBE_ID = re.compile(r"\bprobe [0-9a-f]{12}\b")  # condition messages: "probe <id> passed"


def _plain(text: str, port: int, tmp: str) -> str:
    text = _PROBE_ID.sub("probe <probe-id>", text.replace(tmp, "<tmp>"))
    return re.sub(rf"\b{port}\b", "2525", text)


def _normalise(value: Any, port: int, tmp: str, key: str = "") -> Any:
    if key == "probe_id" and isinstance(value, str):
        return "<probe-id>"
    if key == "deliveryMs" and isinstance(value, int | float):
        return "<ms>"
    if key == "latency_ms" and isinstance(value, dict):
        return {k: "<ms>" for k in value}
    if isinstance(value, dict):
        return {k: _normalise(v, port, tmp, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v, port, tmp, key) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and value == port:
        return 2525
    if isinstance(value, str):
        if _TIME.match(value):
            return "<time>"
        value = _MAILDIR_KEY.sub("<maildir-key>", _AFTER_MS.sub("after <ms> ms", value))
        return _plain(value, port, tmp)
    return value


class Run:
    """``mailctl`` in the copied demo repository; collects the outputs to compare."""

    def __init__(self, root: Path, env: dict[str, str], port: int, tmp: Path) -> None:
        self.root, self.env, self.port, self.tmp = root, env, port, str(tmp)
        self.mismatches: list[str] = []

    def __call__(self, name: str, *args: str, code: int, json_out: bool = True) -> None:
        argv = [*args, "--format", "json"] if json_out else list(args)
        proc = subprocess.run(
            [sys.executable, "-m", "reconciler", *argv],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == code, (argv, proc.returncode, proc.stdout, proc.stderr)
        if json_out:
            data = _normalise(json.loads(proc.stdout), self.port, self.tmp)
            text, path = json.dumps(data, indent=2) + "\n", GOLDEN / f"{name}.json"
        else:
            text = _plain(proc.stdout, self.port, self.tmp)
            path = GOLDEN / f"{name}.txt"
        if UPDATE:
            GOLDEN.mkdir(exist_ok=True)
            path.write_text(text)
        elif not path.is_file() or path.read_text() != text:
            self.mismatches.append(name)
            path.with_name(path.name + ".actual").write_text(text)


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A git repository holding a copy of the demo configs, tagged ``v1``."""
    root = tmp_path / "demo"
    shutil.copytree(ROOT / "configs", root / "configs")
    (root / ".mailctl").mkdir()
    (root / ".gitignore").write_text(".mailctl/\n")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "demo configs")
    _git(root, "tag", "v1")
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


def test_json_outputs_match_the_goldens(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILCTL_", "NO_COLOR"))}
    env.update(
        MAILCTL_STORE=str(tmp_path / "state" / "mailctl.db"),
        MAILCTL_ACTOR="golden",
        INITECH_SMTP_PASSWORD=DEMO_PASSWORD,
    )
    config = SinkConfig(
        port=0,
        tls="starttls",
        ca_out=str(tmp_path / "sink-ca.pem"),
        users=(SinkUser("demo", DEMO_PASSWORD),),
        maildir=str(demo / ".mailctl" / "maildir"),
    )
    with Sink(config, out=io.StringIO()) as sink:
        port = sink.port
        for manifest in (demo / "configs").rglob("*.yaml"):
            if "port: 2525" in manifest.read_text():
                _edit(manifest, "port: 2525", f"port: {port}")
        _git(demo, "commit", "-q", "-am", "sink port")
        _git(demo, "tag", "-f", "v1")
        ca = ["--ca-file", str(sink.ca_file)]
        run = Run(demo, env, port, tmp_path)

        run("validate", "validate", code=0)
        run("validate.text", "validate", code=0, json_out=False)
        run("validate_file", "validate", "configs/orgs/initech.yaml", code=0)
        run("plan_initial", "plan", code=0)
        run("plan_initial.text", "plan", code=0, json_out=False)
        run("apply_initial", "apply", *ca, "--revision", "r1", code=0)
        run("status_initial", "status", code=0)
        run("effective_host", "effective", "host", code=0)
        run("effective_initech", "effective", "org/initech", code=0)
        run("probe_all", "probe", *ca, code=0)

        configs = demo / "configs"
        _edit(configs / "host.yaml", "timeoutMs: 10000", "timeoutMs: 20000")
        _edit(configs / "orgs/globex.yaml", "displayName:", "displayName: Changed")
        (configs / "orgs/umbrella.yaml").unlink()
        (configs / "orgs/broken.yaml").write_text(
            "apiVersion: mailctl/v1\nkind: OrgMailSettings\nmetadata:\n  name: broken\n"
            "spec:\n  mode: custom\n  smtp: {host: 127.0.0.1, port: 25, tls: none,\n"
            "    auth: {username: u, password: hunter2}}\n"
        )
        run("validate_invalid", "validate", code=1)
        run("validate_invalid.text", "validate", code=1, json_out=False)
        run("effective_desired", "effective", "org/acme", "--desired", code=0)
        run("plan_change", "plan", code=1)
        run("plan_change_detailed", "plan", "--detailed-exitcode", code=1)
        (configs / "orgs/broken.yaml").unlink()
        run("plan_change_valid", "plan", "--detailed-exitcode", code=2)
        _git(demo, "add", "-A")
        _git(demo, "commit", "-q", "-m", "change")
        _git(demo, "tag", "v2")
        run("diff", "diff", "--base", "v1", "--head", "v2", code=0)
        run("diff.md", "diff", "--base", "v1", "--head", "v2", "--format", "markdown",
            code=0, json_out=False)  # fmt: skip
        run("apply_change", "apply", "--probe", "off", "--revision", "r2", code=0)
        run("status_change", "status", code=0)
        run("history", "history", code=0)
        run("history_acme", "history", "org/acme", "--limit", "1", code=0)
        run("suspend", "suspend", "--reason", "golden rollback", code=0)
        run("status_suspended", "status", code=0)
        run("rollback", "rollback", "--to", "1", code=0)
        run("rollback_again", "rollback", "--to", "1", code=0)
        run("resume", "resume", code=0)
        run("effective_after_rollback", "effective", "org/umbrella", code=0)
        run("history_after_rollback", "history", code=0)

    assert not UPDATE, "goldens written: re-run without MAILCTL_UPDATE_GOLDEN"
    assert not run.mismatches, (
        f"outputs differ from tests/golden (see the .actual files): {run.mismatches}"
    )
