"""The ``siting`` command group: logging options, and bad input as one line, never a traceback."""

from __future__ import annotations

import logging
import sys

import click

from siting import __version__
from siting._log import set_progress
from siting.errors import SitingError


class _Commands(click.Group):
    """The command group: an error siting raises on purpose is printed as one line, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SitingError as exc:
            click.echo(f"Error: {' '.join(str(exc).split())}", err=True)
            ctx.exit(2)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="siting")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors; no progress bars.")
def cli(verbose: int, quiet: bool) -> None:
    """Plan new school sites and catchments from population, roads and schools."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    # other libraries (pyogrio's "Created 192 records", osmnx, rasterio) speak at INFO only with -vv
    others = logging.DEBUG if verbose > 1 else logging.WARNING
    logging.basicConfig(level=others, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("siting").setLevel(level)
    set_progress(not quiet)
