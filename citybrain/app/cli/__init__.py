"""The ``citybrain`` command: a thin click group over the library.

Each command group lives in its own module here and only parses arguments, builds objects
and calls library functions. Errors raised on purpose (:class:`~citybrain.exceptions.CityBrainError`)
become a one-line message on standard error and exit code 2 (unusable input), or 1 for a
:class:`~citybrain.exceptions.SimulationError` (SUMO failed on valid input), in one place:
:class:`CityBrainGroup`; so does an ``OSError`` (a file that cannot be read or written, a full
disk: exit 2). Exit codes: 0 ok, 1 problems found in valid input, 2 unusable input
or usage.
"""

from __future__ import annotations

import click

from citybrain.exceptions import CityBrainError, SimulationError
from .counts import counts
from .demand import demand
from .estimate import estimate
from .network import network
from .ops import ops
from .optimise import optimise
from .plans import plans
from .report import report
from .run import run
from .serve import serve
from .simulate import simulate
from .tokens import tokens
from .spm import spm
from .traffic_state import traffic_state
from .bench import bench

__all__ = ["cli", "main", "CityBrainGroup"]


class CityBrainGroup(click.Group):
    """A click group that turns domain and file errors into a message: exit 1 for a failed simulation, else 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SimulationError as exc:
            click.echo(f"Error: the simulation failed: {' '.join(str(exc).split())}", err=True)
            ctx.exit(1)
        except CityBrainError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2)
        except BrokenPipeError:
            raise  # click's own handling: the reader went away (``citybrain ... | head``)
        except OSError as exc:  # a file that cannot be read or written: a full disk, no permission
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"Error: {where}{exc.strerror or exc} (a file could not be read or written).", err=True)
            ctx.exit(2)


@click.group(cls=CityBrainGroup)
@click.version_option(package_name="citybrain")
def cli() -> None:
    """citybrain: camera counts -> flows -> signal plans -> SUMO digital twin."""


for _command in (network, counts, estimate, optimise, plans, run, simulate, spm, traffic_state, serve, tokens, ops, bench,
                 report, demand):
    cli.add_command(_command)


def main() -> None:
    """Entry point of the ``citybrain`` console script."""
    cli(prog_name="citybrain")
