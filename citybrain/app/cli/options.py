"""Option bundles shared by the commands, as decorators (datasette's style).

:func:`network_options` gives a command its road network: ``--network NET.net.xml`` (or a
``NET`` argument) and ``--conflicts FILE`` (per-junction conflict overrides, JSON). The
network is built once, with its overrides, and passed to the command as one
:class:`~citybrain.network.RoadNetwork`; a bad network or override file is a
:class:`~citybrain.exceptions.CityBrainError`, which the group turns into one line and exit 2.

Examples
--------
::

    @click.command()
    @network_options()
    def info(road: RoadNetwork) -> None: ...

    @click.command()
    @network_options(argument=True, dest="network")
    def export(network: RoadNetwork) -> None: ...
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import click

from citybrain.network import graph_from_sumo_net

__all__ = ["network_options"]


def network_options(*, argument: bool = False, dest: str = "road") -> Callable[[Callable], Callable]:
    """Add the network and its conflict overrides to a command; pass the built network.

    Parameters
    ----------
    argument
        Take the network file as the positional argument ``NET`` instead of ``--network``.
    dest
        Name of the keyword argument that receives the
        :class:`~citybrain.network.RoadNetwork`.

    Returns
    -------
    callable
        A decorator for a click command function.
    """

    def decorator(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args, net: Path, conflicts: Path | None, **kwargs):
            kwargs[dest] = graph_from_sumo_net(net, conflicts=conflicts)
            return func(*args, **kwargs)

        wrapper = click.option(
            "--conflicts", type=click.Path(dir_okay=False, path_type=Path), default=None,
            help="Per-junction conflict overrides (JSON) that every conflict check and plan sees.",
        )(wrapper)
        if argument:
            return click.argument("net", type=click.Path(path_type=Path))(wrapper)
        return click.option("--network", "net", required=True, type=click.Path(path_type=Path),
                            help="SUMO network (.net.xml).")(wrapper)

    return decorator
