"""Command line: a thin layer over the library (``siting run``, ``siting sample``, ``siting demand``...).

Each command parses its options, calls one library function and prints what it returned. Logging is
configured here and nowhere else (``-v`` / ``-q``).
"""

from __future__ import annotations

import logging
import sys

import click

from siting import __version__
from siting._log import set_progress
from siting.errors import SitingError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="siting")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors; no progress bars.")
def cli(verbose: int, quiet: bool) -> None:
    """Plan new school sites and catchments from population, roads and schools."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("siting").setLevel(level)
    set_progress(not quiet)


# -- commands are added below this line, one function each, importing their stage module lazily --


def main() -> None:
    """Entry point of the ``siting`` console script: clear messages instead of tracebacks for bad input."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SitingError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
