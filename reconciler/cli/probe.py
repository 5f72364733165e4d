"""``mailctl probe [SCOPE...]``: probe the stored effective settings now."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.common import command_progress, emit, examples, open_store, render
from reconciler.cli.completion import scope_completer
from reconciler.cli.options import (
    ca_option,
    ehlo_option,
    format_option,
    secrets_options,
    store_option,
)
from reconciler.errors import ExitCode
from reconciler.reporters.registry import PROBE


@click.command(
    epilog=examples(
        "mailctl probe                      every stored scope",
        "mailctl probe host org/acme --ca-file corp-ca.pem",
        codes="0 all passed, 1 error (e.g. a scope not in the store), 3 some failed.",
    )
)
@click.argument("scopes", nargs=-1, shell_complete=scope_completer(configs=False, store=True))
@store_option
@ca_option
@ehlo_option
@secrets_options
@format_option(PROBE)
def probe(scopes: tuple[str, ...], store: Path, ca_file: Path | None, fmt: str) -> int:
    """Probe the stored effective settings now (all scopes, or the ones named)."""
    from reconciler.errors import UnknownScopeError
    from reconciler.probing import ProbeOptions, probe_after_commit, probe_inputs
    from reconciler.secrets import SecretCache

    with open_store(store, create=False) as st:
        records = st.scopes()
        names = list(scopes) or list(records)
        unknown = [s for s in names if s not in records]
        if unknown:
            raise UnknownScopeError(
                f"not in the store: {', '.join(unknown)}", hint="see 'mailctl status'"
            )
        inputs = probe_inputs(records, names, SecretCache(st.fingerprint_key()))
        opts = ProbeOptions(ca_file=str(ca_file) if ca_file else None)
        with command_progress() as progress:
            outcomes = probe_after_commit(st, inputs, opts, progress=progress)
    emit(render(PROBE, fmt, {"results": outcomes}))
    failed = any(o.get("status") != "passed" for o in outcomes)
    return ExitCode.DEGRADED if failed else ExitCode.OK
