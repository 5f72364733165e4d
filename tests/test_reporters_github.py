"""``--format github`` (``reconciler.reporters.github``) and the format registry: workflow
commands with file/line/col, the runner's escaping rules, plan summaries, and the example
workflow in ``deploy/github-pr.yml`` run step by step against a real git clone."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reconciler.reporters.github import command, escape_data, escape_property
from reconciler.reporters.registry import PLAN, VALIDATION, formats
from tests import manifests
from tests.fixtures_cli import run_mailctl as mailctl
from tests.fixtures_repo import ConfigRepo

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / "deploy" / "github-pr.yml"
ANNOTATION = re.compile(r"^::(error|warning|notice)(?: ([^:]*))?::(.*)$")


def parse(line: str) -> tuple[str, dict[str, str], str]:
    """A workflow command back into (level, properties, message), unescaped as the runner
    does; fails on anything that is not exactly one well-formed command."""
    m = ANNOTATION.match(line)
    assert m is not None, line
    props: dict[str, str] = {}
    for part in (m.group(2) or "").split(","):
        if part:
            key, _, value = part.partition("=")
            assert key in {"file", "line", "col", "title"}, part
            props[key] = _unescape(value)
    return m.group(1), props, _unescape(m.group(3))


def _unescape(text: str) -> str:
    for enc, raw in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        text = text.replace(enc, raw)
    return text


@pytest.mark.parametrize(
    ("raw", "data", "prop"),
    [
        ("plain", "plain", "plain"),
        ("100% sure", "100%25 sure", "100%25 sure"),
        ("two\nlines\r\n", "two%0Alines%0D%0A", "two%0Alines%0D%0A"),
        ("a:b,c", "a:b,c", "a%3Ab%2Cc"),
        ("%0A literal", "%250A literal", "%250A literal"),  # no double decoding
    ],
)
def test_escaping_rules(raw: str, data: str, prop: str) -> None:
    assert escape_data(raw) == data
    assert escape_property(raw) == prop


def test_command_cannot_be_broken_out_of() -> None:
    line = command("error", "x\n::error::forged", file="a,b:c.yaml", line=3, col=4, title="t:1")
    assert "\n" not in line
    assert parse(line) == (
        "error",
        {"file": "a,b:c.yaml", "line": "3", "col": "4", "title": "t:1"},
        "x\n::error::forged",
    )


def test_formats_come_from_the_registry() -> None:
    assert formats(VALIDATION) == ("text", "json", "github")
    assert formats(PLAN) == ("text", "json", "markdown", "github")
    proc = mailctl("validate", "--format", "markdown", cwd=REPO)
    assert proc.returncode == 1
    assert "'text', 'json', 'github'" in proc.stderr


@pytest.fixture(name="bad_folder")
def bad_folder_fixture(tmp_path: Path) -> Path:
    """A file whose name holds ',' and ':' and values holding '%', ',' and ':'."""
    configs = tmp_path / "configs"
    (configs / "orgs").mkdir(parents=True)
    (configs / "host.yaml").write_text(manifests.host())
    (configs / "orgs" / "odd,name:1.yaml").write_text(
        manifests.org("odd", "custom", host="100%,smtp:25", port=70000)
    )
    (configs / "orgs" / "warn.yaml").write_text(
        manifests.org("warn", "custom", host="smtp.warn.example", port=465)  # starttls on 465
    )
    return configs


def test_validate_annotations_name_file_line_col_and_escape(bad_folder: Path) -> None:
    proc = mailctl("validate", "configs", "--format", "github", cwd=bad_folder.parent)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[-1] == "3 files checked: 2 errors, 1 warning."
    parsed = [parse(line) for line in lines[:-1]]
    by_rule = {
        p["title"].removeprefix("mailctl validate: "): (lvl, p, msg) for lvl, p, msg in parsed
    }
    assert set(by_rule) == {"schema.pattern", "schema.range", "smtp.port-tls-mismatch"}

    level, props, message = by_rule["schema.pattern"]
    assert level == "error"
    assert props["file"] == "configs/orgs/odd,name:1.yaml"
    assert (props["line"], props["col"]) == ("8", "11")
    assert '"100%,smtp:25"' in message and "\nhint: " in message
    raw = next(line for line in lines if "schema.pattern" in line)
    assert "file=configs/orgs/odd%2Cname%3A1.yaml,line=8,col=11," in raw
    assert "100%25,smtp:25" in raw and "%0Ahint: " in raw  # data keeps ':' and ','

    level, props, _ = by_rule["schema.range"]
    assert (level, props["line"]) == ("error", "9")
    level, props, message = by_rule["smtp.port-tls-mismatch"]
    assert (level, props["file"]) == ("warning", "configs/orgs/warn.yaml")
    assert "465" in message

    strict = mailctl(
        "validate",
        "configs/orgs/warn.yaml",
        "--format",
        "github",
        "--strict",
        cwd=bad_folder.parent,
    )
    assert strict.returncode == 1
    assert parse(strict.stdout.splitlines()[0])[0] == "error"  # --strict: warnings fail


def test_valid_files_give_no_annotations(tmp_path: Path) -> None:
    (tmp_path / "host.yaml").write_text(manifests.host())
    proc = mailctl("validate", "host.yaml", "--format", "github", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout == "1 file checked: 0 errors, 0 warnings. Valid.\n"


def test_plan_summary_changes_and_held_scopes(tmp_path: Path) -> None:
    configs = tmp_path / "configs"
    (configs / "orgs").mkdir(parents=True)
    (configs / "host.yaml").write_text(manifests.host())
    (configs / "orgs" / "acme.yaml").write_text(manifests.org("acme"))
    (configs / "orgs" / "globex.yaml").write_text(manifests.org("globex", "custom", port=2526))
    store = tmp_path / "s.db"
    first = mailctl(
        "plan", "--configs", "configs", "--store", str(store), "--format", "github", cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    parsed = [parse(line) for line in first.stdout.splitlines()]
    assert parsed[0] == (
        "notice",
        {"title": "mailctl plan"},
        "Plan: 3 to create, 0 to update, 0 to delete.",
    )
    notices = {p["title"]: (p, m) for lvl, p, m in parsed[1:] if lvl == "notice"}
    props, message = notices["mailctl plan: org/globex"]
    assert props["file"] == "configs/orgs/globex.yaml"
    assert message.splitlines()[:2] == ["org/globex will be created", "+ mode: custom"]
    assert "+ smtp.port: 2526" in message.splitlines()

    applied = mailctl(
        "apply",
        "--configs",
        "configs",
        "--store",
        str(store),
        "--probe",
        "off",
        "--revision",
        "r1",
        cwd=tmp_path,
    )
    assert applied.returncode == 0, applied.stderr
    (configs / "orgs" / "globex.yaml").write_text(
        "kind: OrgMailSettings\nmetadata: {name: globex}\nspec: ["
    )
    held = mailctl(
        "plan", "--configs", "configs", "--store", str(store), "--format", "github", cwd=tmp_path
    )
    parsed = [parse(line) for line in held.stdout.splitlines()]
    errors = [(p, m) for lvl, p, m in parsed if lvl == "error"]
    assert errors and errors[0][0]["file"] == "configs/orgs/globex.yaml"
    check = mailctl("validate", "configs/orgs/globex.yaml", "--format", "json", cwd=tmp_path)
    where = json.loads(check.stdout)["diagnostics"][0]
    assert (errors[0][0]["line"], errors[0][0]["col"]) == (str(where["line"]), str(where["column"]))
    assert "org/globex is held at its last applied settings" in errors[0][1]
    assert parsed[-1] == (
        "notice",
        {"title": "mailctl plan"},
        "No changes (some scopes are held, see above).",
    )


def _workflow_steps() -> dict[str, str]:
    doc = yaml.safe_load(WORKFLOW.read_text())
    steps = doc["jobs"]["plan"]["steps"]
    return {s["name"]: s["run"] for s in steps if "run" in s and "mailctl" in s["run"]}


def test_workflow_uses_the_github_format() -> None:
    steps = _workflow_steps()
    assert "--format github" in steps["Validate"]
    assert "--format github" in steps["Annotate the changes"]


def test_workflow_steps_run_against_a_real_pull_request(repo: ConfigRepo, tmp_path: Path) -> None:
    """The workflow's own shell steps, as the runner would run them: a clone with
    origin/main and a branch that changes the host, then one that also breaks an org."""
    clone = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(repo.root), str(clone)], check=True)
    pr = ConfigRepo(clone)
    pr.git("checkout", "-q", "-b", "feature")
    pr.write("host.yaml", manifests.host(display_name='"New, improved: 100%"'))
    pr.commit("pr")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "mailctl"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m reconciler "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    output = tmp_path / "github_output"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILCTL_")}
    env.update(PATH=f"{bin_dir}:{env['PATH']}", GITHUB_OUTPUT=str(output), PYTHONPATH=str(REPO))

    def run_steps() -> dict[str, subprocess.CompletedProcess[str]]:
        results = {}
        for name, script in _workflow_steps().items():
            script = script.replace("${{ github.base_ref }}", "main")
            results[name] = subprocess.run(
                ["bash", "-e", "-c", script],
                cwd=clone,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        return results

    results = run_steps()
    assert results["Validate"].returncode == 0, results["Validate"].stdout
    assert results["Validate"].stdout == "4 files checked: 0 errors, 0 warnings. Valid.\n"
    annotate = results["Annotate the changes"]
    assert annotate.returncode == 0, annotate.stderr
    parsed = [parse(line) for line in annotate.stdout.splitlines()]
    summary = [
        m
        for lvl, p, m in parsed
        if lvl == "notice" and p == {"title": "mailctl diff origin/main..working tree"}
    ]
    assert summary == [
        "Plan: 0 to create, 1 to update, 0 to delete. "
        "The host change cascades to 2 inheriting orgs.",
        "Inheriting orgs that change with the host: org/acme, org/umbrella",
    ]
    host = [m for lvl, p, m in parsed if p.get("file") == "configs/host.yaml"]
    assert host and '"New, improved: 100%"' in host[0]
    diff = results["Diff against the base branch"]
    assert diff.returncode == 0, diff.stderr
    assert output.read_text() == "changes=true\n"
    assert (clone / "mailctl-diff.md").read_text().startswith("### mailctl diff")

    # The next push breaks an org: validation fails the job with the annotation on the
    # file and line; the change annotations still name it.
    pr.write("orgs/globex.yaml", manifests.org("globex", "custom", port=99999))
    pr.commit("broken")
    results = run_steps()
    validate = results["Validate"]
    assert validate.returncode == 1
    level, props, _ = parse(validate.stdout.splitlines()[0])
    assert (level, props["file"], props["line"]) == ("error", "configs/orgs/globex.yaml", "9")
    annotate = results["Annotate the changes"]
    assert annotate.returncode == 1  # invalid manifests are an error for diff too
    errors = [p for lvl, p, m in map(parse, annotate.stdout.splitlines()) if lvl == "error"]
    assert errors and (errors[0]["file"], errors[0]["line"]) == ("configs/orgs/globex.yaml", "9")
