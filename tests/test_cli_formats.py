"""Every command's ``--format`` offers exactly the formats registered for its kind of
result (``reconciler.reporters.registry``): no command keeps its own list, so a new
format is one ``register`` call."""

from __future__ import annotations

import click

from reconciler.cli.app import build_cli
from reconciler.reporters import registry as R

KIND_OF = {
    "validate": R.VALIDATION,
    "plan": R.PLAN,
    "diff": R.PLAN,
    "apply": R.APPLY,
    "status": R.STATUS,
    "effective": R.EFFECTIVE,
    "probe": R.PROBE,
    "history": R.HISTORY,
    "rollback": R.ROLLBACK,
    "suspend": R.SUSPENSION,
    "resume": R.SUSPENSION,
}


def _format_choices(command: click.Command) -> tuple[str, ...] | None:
    for param in command.params:
        if param.name == "fmt":
            assert isinstance(param.type, click.Choice)
            return tuple(param.type.choices)
    return None


def test_format_choices_are_the_registered_ones() -> None:
    commands = build_cli().commands
    with_format = {name for name, c in commands.items() if _format_choices(c) is not None}
    assert with_format == set(KIND_OF)  # daemon and sink print no result
    for name, kind in KIND_OF.items():
        assert _format_choices(commands[name]) == R.formats(kind), name
        assert R.formats(kind)[0] == "text"  # the default


def test_every_registered_reporter_resolves_to_a_function() -> None:
    for kind, names in R.REPORTER_BY_NAME.items():
        for name in names:
            assert callable(R.reporter(kind, name)), (kind, name)
