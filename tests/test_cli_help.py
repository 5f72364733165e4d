"""``mailctl --help`` and ``mailctl COMMAND --help`` (``reconciler.cli.app``): every option that
reads an environment variable names it, commands carry examples and exit codes, and the
top-level help says how to turn on shell completion."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from reconciler.cli import app as cli_module


def _commands() -> dict[str, click.Command]:
    return dict(cli_module.build_cli().commands)


def help_text(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """The help as printed by the real entry point, whitespace-normalised (click wraps)."""
    with pytest.raises(SystemExit) as exit_info:
        cli_module.main([*args, "--help"])
    assert exit_info.value.code == 0
    return " ".join(capsys.readouterr().out.split())


ENV_OPTIONS = sorted(
    (name, opt.name or "", str(opt.envvar))
    for name, command in _commands().items()
    for opt in command.params
    if isinstance(opt, click.Option) and opt.envvar
)


def test_the_shared_options_read_their_documented_variables() -> None:
    names = {env for _, _, env in ENV_OPTIONS}
    assert {"MAILCTL_CONFIGS", "MAILCTL_STORE", "MAILCTL_CA_FILE"} <= names


@pytest.mark.parametrize(("command", "option", "envvar"), ENV_OPTIONS)
def test_option_help_names_its_env_var(
    capsys: pytest.CaptureFixture[str], command: str, option: str, envvar: str
) -> None:
    assert f"env var: {envvar}" in help_text(capsys, command)


@pytest.mark.parametrize(
    "command",
    [
        "validate",
        "plan",
        "diff",
        "apply",
        "status",
        "effective",
        "probe",
        "history",
        "rollback",
        "suspend",
    ],
)
def test_command_help_has_examples_and_exit_codes(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    text = help_text(capsys, command)
    assert "Examples: mailctl " in text
    assert f" mailctl {command} " in text
    assert "Exit codes: " in text
    assert "0" in text.split("Exit codes: ", 1)[1]


@pytest.mark.parametrize("command", ["daemon", "sink"])
def test_long_running_commands_have_examples(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    text = help_text(capsys, command)
    assert f"Examples: mailctl {command}" in text
    assert "SIGTERM" in text


def test_top_level_help_explains_completion_and_environment(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = help_text(capsys)
    assert 'eval "$(_MAILCTL_COMPLETE=bash_source mailctl)"' in text
    for name in ("NO_COLOR", "MAILCTL_DEBUG", "MAILCTL_CONFIGS"):
        assert name in text
    assert "Exit codes: 0 ok, 1 error, 2 changes" in text


def test_help_as_a_process_names_the_env_var_on_the_option_line() -> None:
    """The installed entry point, not only the function: `--store` says MAILCTL_STORE."""
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "status", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": ""},
    )
    assert proc.returncode == 0, proc.stderr
    store_line = next(line for line in proc.stdout.splitlines() if "--store" in line)
    assert "[env var: MAILCTL_STORE; default:" in store_line
