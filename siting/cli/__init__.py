"""Command line: a thin layer over the library (``siting run``, ``siting sample``, ``siting demand``...).

Each command parses its options, calls one library function and prints what it returned. Logging is
configured in :mod:`siting.cli._group` and nowhere else (``-v`` / ``-q``). The commands live by what
they work on: :mod:`~siting.cli.inputs` (sample, costs, demand), :mod:`~siting.cli.running` (run,
compare, sweep) and :mod:`~siting.cli.outputs` (map, review, pack); each imports its stage lazily.
"""

from __future__ import annotations

import sys

import click

from siting.cli import inputs, outputs, running  # noqa: F401  (each module adds its commands to the group)
from siting.cli._group import cli
from siting.errors import SitingError

__all__ = ["cli", "main"]


def main() -> None:
    """Entry point of the ``siting`` console script: clear messages instead of tracebacks for bad input."""
    try:
        code = cli.main(standalone_mode=False)  # a SitingError is printed by the group and returns 2
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SitingError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    if isinstance(code, int) and code:
        sys.exit(code)
