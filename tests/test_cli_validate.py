"""``mailctl validate`` as users run it: a real process, its output and its exit code."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_validate import CORPUS, HOST, ORG, custom

REPO = Path(__file__).resolve().parent.parent
TEXT_LINE = re.compile(
    r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning): "
    r".+ \[(?P<rule>[a-z0-9.-]+)\]$"
)
SUMMARY = re.compile(
    r"^\d+ files? (valid( \(\d+ warnings?\))?|checked: \d+ errors?, \d+ warnings?.*)\.$"
)

WARN_ONLY = custom("    host: a.example\n    port: 587\n    domain: CORP\n")
GOOD = ORG + "spec:\n  mode: default\n"
BAD = ORG + "spec:\n  mode: default\n  mdoe: custom\n"


def mailctl(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "MAILCTL_CONFIGS")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", *map(str, args)],
        cwd=cwd or REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def test_valid_configs_exit_0_with_summary() -> None:
    proc = mailctl()  # default: the configs folder
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines() == ["5 files valid."]
    assert proc.stderr == ""


def test_text_format_lines_hints_and_summary(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", BAD)
    proc = mailctl(bad)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert (
        lines[0] == f"{bad}:7:3: error: unknown property 'mdoe' in spec [schema.unknown-property]"
    )
    assert lines[1] == "    hint: did you mean 'mode'?"
    assert lines[2] == "1 file checked: 1 error, 0 warnings."
    assert len(lines) == 3


def test_every_diagnostic_line_has_the_documented_shape(tmp_path: Path) -> None:
    for case in CORPUS:
        (tmp_path / f"{case.id}.yaml").write_bytes(case.data())
    proc = mailctl(tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    assert SUMMARY.match(lines[-1]), lines[-1]
    body = lines[:-1]
    for first, second in zip(body[::2], body[1::2], strict=True):
        assert TEXT_LINE.match(first), first
        assert second.startswith("    hint: "), second


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_no_traceback_on_any_corpus_file(fmt: str, tmp_path: Path) -> None:
    files = []
    for case in CORPUS:
        files.append(tmp_path / f"{case.id}.yaml")
        files[-1].write_bytes(case.data())
    proc = mailctl("--format", fmt, *files)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr == ""
    if fmt == "json":
        payload = json.loads(proc.stdout)
        reported = {Path(d["file"]).name for d in payload["diagnostics"]}
        assert reported == {f.name for f in files}, "every file is reported in one run"
    assert "hunter2" not in proc.stdout
    assert "12345678" not in proc.stdout


def test_json_format(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", BAD)
    warn = write(tmp_path, "warn.yaml", WARN_ONLY.replace("acme", "warn"))
    proc = mailctl("--format", "json", bad, warn)
    assert proc.returncode == 1
    payload = json.loads(proc.stdout)
    assert payload["format_version"] == "1.0"
    assert payload["valid"] is False
    keys = ["file", "line", "column", "path", "rule", "severity", "message", "hint"]
    assert [list(d) for d in payload["diagnostics"]] == [keys, keys]
    first, second = payload["diagnostics"]
    assert first == {
        "file": str(bad),
        "line": 7,
        "column": 3,
        "path": "$.spec.mdoe",
        "rule": "schema.unknown-property",
        "severity": "error",
        "message": "unknown property 'mdoe' in spec",
        "hint": "did you mean 'mode'?",
    }
    assert (second["rule"], second["severity"], second["line"]) == (
        "smtp.domain-without-auth",
        "warning",
        10,
    )


def test_json_valid_run(tmp_path: Path) -> None:
    proc = mailctl("--format", "json", write(tmp_path, "ok.yaml", GOOD))
    assert proc.returncode == 0
    payload = json.loads(proc.stdout)
    assert payload["valid"] is True
    assert payload["diagnostics"] == []


def test_warnings_pass_and_strict_fails(tmp_path: Path) -> None:
    warn = write(tmp_path, "warn.yaml", WARN_ONLY)
    proc = mailctl(warn)
    assert proc.returncode == 0
    assert ": warning: " in proc.stdout
    assert proc.stdout.splitlines()[-1] == "1 file valid (1 warning)."
    strict = mailctl("--strict", warn)
    assert strict.returncode == 1
    assert strict.stdout.splitlines()[-1] == (
        "1 file checked: 0 errors, 1 warning (warnings fail with --strict)."
    )
    strict_json = json.loads(mailctl("--strict", "--format", "json", warn).stdout)
    assert strict_json["valid"] is False


def test_examples_pass_even_strict() -> None:
    assert mailctl("examples").returncode == 0
    assert mailctl("examples", "--strict").returncode == 0


def test_plain_output_when_not_a_tty_and_with_no_color(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", BAD)
    for env in ({}, {"NO_COLOR": "1"}, {"NO_COLOR": ""}):
        proc = mailctl(bad, env=env)
        assert "\x1b[" not in proc.stdout + proc.stderr


def test_no_color_is_respected_on_a_tty(tmp_path: Path) -> None:
    """Under a pseudo-terminal the severity is coloured, unless NO_COLOR is set."""
    import pty

    bad = write(tmp_path, "bad.yaml", BAD)

    def run_on_tty(env: dict[str, str]) -> str:
        main_fd, child_fd = pty.openpty()
        full_env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        full_env.update(env)
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "validate", str(bad)],
            cwd=REPO,
            env=full_env,
            stdout=child_fd,
            stderr=child_fd,
        )
        os.close(child_fd)
        chunks = []
        while True:
            try:
                chunk = os.read(main_fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(timeout=30)
        os.close(main_fd)
        return b"".join(chunks).decode()

    assert "\x1b[" in run_on_tty({})
    assert "\x1b[" not in run_on_tty({"NO_COLOR": "1"})


def test_folder_without_host_and_files_without_host(tmp_path: Path) -> None:
    write(tmp_path, "acme.yaml", GOOD)
    folder = mailctl(tmp_path)
    assert folder.returncode == 1
    assert "[set.host-missing]" in folder.stdout
    files = mailctl(tmp_path / "acme.yaml")
    assert files.returncode == 0


def test_cwd_independent_and_configs_env(tmp_path: Path) -> None:
    configs = tmp_path / "c"
    configs.mkdir()
    write(configs, "host.yaml", HOST + "spec:\n  mode: default\n")
    proc = mailctl(cwd=tmp_path, env={"MAILCTL_CONFIGS": str(configs)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "1 file valid."


def test_missing_configs_folder_is_one_line_error(tmp_path: Path) -> None:
    proc = mailctl(cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith("mailctl: error: ")
    assert "Traceback" not in proc.stderr


def test_missing_file_is_a_diagnostic(tmp_path: Path) -> None:
    proc = mailctl(tmp_path / "nope.yaml")
    assert proc.returncode == 1
    assert "[file.unreadable]" in proc.stdout


def test_usage_error_exits_1_without_traceback() -> None:
    proc = mailctl("--format", "xml")
    assert proc.returncode == 1
    assert "Invalid value for '--format'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_console_script_matches_module() -> None:
    script = Path(sys.executable).with_name("mailctl")
    if not script.exists():
        pytest.skip("console script not installed next to this interpreter")
    proc = subprocess.run(
        [str(script), "validate", "configs"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    assert proc.stdout == mailctl("configs").stdout


# --- --skip-foreign: the pre-commit hook's view of a whole repository -------------------------

FOREIGN = {
    "docker-compose.yml": "services:\n  web:\n    image: nginx\n",
    "deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n---\nx: 1\n",
    "workflow.yml": "on: push\njobs: {}\n",
    "binary.yaml": "\x00\x01 not text",
}
OURS_BROKEN = {
    # still ours, so still checked: an apiVersion or a kind is enough to claim the file
    "typo-kind.yaml": "apiVersion: mailctl/v1\nkind: OrgMailSetings\nmetadata:\n  name: x\n",
    "no-api.yaml": "kind: OrgMailSettings\nmetadata:\n  name: y\nspec:\n  mode: default\n",
    "unparsable.yaml": "apiVersion: 'mailctl/v1'\nkind: [\n",
}


def test_skip_foreign_skips_other_yaml_and_says_so(tmp_path: Path) -> None:
    files = [write(tmp_path, name, text) for name, text in FOREIGN.items()]
    files.append(write(tmp_path, "acme.yaml", GOOD))
    proc = mailctl("--skip-foreign", *files)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [
        "4 files skipped: not mailctl manifests.",
        "1 file valid.",
    ]
    data = json.loads(mailctl("--skip-foreign", "--format", "json", *files).stdout)
    assert data["valid"] is True
    assert data["files"] == 1
    assert sorted(Path(f).name for f in data["skipped"]) == sorted(FOREIGN)


@pytest.mark.parametrize("name", sorted(OURS_BROKEN))
def test_skip_foreign_still_checks_files_that_claim_to_be_ours(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, OURS_BROKEN[name])
    proc = mailctl("--skip-foreign", path, write(tmp_path, "compose.yml", "services: {}\n"))
    assert proc.returncode == 1, proc.stdout
    assert proc.stdout.startswith(f"{path}:"), proc.stdout
    assert "1 file skipped" in proc.stdout


def test_without_skip_foreign_a_foreign_file_is_an_error(tmp_path: Path) -> None:
    proc = mailctl(write(tmp_path, "docker-compose.yml", FOREIGN["docker-compose.yml"]))
    assert proc.returncode == 1
    assert "[schema.kind]" in proc.stdout


def test_skip_foreign_does_not_apply_inside_a_folder(tmp_path: Path) -> None:
    """In a configs folder every YAML file is a manifest (as for plan and the daemon)."""
    write(tmp_path, "host.yaml", HOST + "spec:\n  mode: default\n")
    write(tmp_path, "stray.yaml", FOREIGN["workflow.yml"])
    proc = mailctl("--skip-foreign", tmp_path)
    assert proc.returncode == 1
    assert "stray.yaml:1:1: error:" in proc.stdout
