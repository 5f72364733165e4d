"""The ``mailctl`` command line: one module per command, shared options in
:mod:`reconciler.cli.options`, the group and the error boundary in :mod:`reconciler.cli.app`.
See docs/architecture.md ("Adding a command option")."""


def main(argv: list[str] | None = None) -> None:
    """The entry point (``mailctl``, ``python -m reconciler``): imported here only when
    called, so importing a command module never loads the others."""
    from reconciler.cli.app import main as run

    run(argv)
