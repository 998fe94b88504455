"""Option bundles and path types shared by the commands, as decorators (datasette's style).

Every path option is one of three click types, so a bad path is one line and exit 2 in every
command: :class:`InputFile` (an existing file, not a folder; the message says what file was
expected), :class:`OutputFile` (a file to write; its missing parent folders are created) and
:class:`OutputDir` (a folder to write into, created); a program to run is a :class:`Program`.
Every real-number option is a :class:`FiniteRange` (click's ``FloatRange`` lets ``nan`` and
``inf`` through).

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
import gzip
import math
import os
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import click

from citybrain.exceptions import ValidationError
from citybrain.network import graph_from_sumo_net

__all__ = ["network_options", "InputFile", "OutputFile", "OutputDir", "FiniteRange", "Program", "junction_list"]


def _name(param: click.Parameter | None) -> str:
    """How the user wrote the parameter: ``--out`` or ``NET``."""
    if param is None:
        return "path"
    return param.opts[0] if param.param_type_name == "option" else param.human_readable_name


def _mkdir(folder: Path, param: click.Parameter | None, path: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"{_name(param)} {path}: cannot create the folder {folder} ({exc.strerror or exc})."
        raise ValidationError(msg) from exc


class InputFile(click.ParamType):
    """An existing file to read; a folder or a missing path is refused naming what was expected.

    Parameters
    ----------
    what
        The file expected, for the message (``"a count file (CSV or Parquet)"``).
    xml_root
        When given, the file must be XML with this root element (only its start is read).
    """

    name = "file"

    def __init__(self, what: str, *, xml_root: str | None = None) -> None:
        self.what = what
        self.xml_root = xml_root

    def convert(self, value, param, ctx) -> Path:
        path = Path(value)
        if path.is_dir():
            msg = f"{_name(param)} {path}: is a folder, expected {self.what}."
            raise ValidationError(msg)
        if not path.exists():
            msg = f"{_name(param)} {path}: no such file; expected {self.what}."
            raise ValidationError(msg)
        if self.xml_root is not None:
            root = _xml_root(path)
            if root != self.xml_root:
                found = f"is XML with root <{root}>" if root else "is not an XML file"
                msg = f"{_name(param)} {path}: {found}; expected {self.what} (<{self.xml_root}>)."
                raise ValidationError(msg)
        return path


def _xml_root(path: Path) -> str | None:
    """The root element's name of an XML file (read from its start only), or None when it is not XML."""
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as fh:
            for _, element in ET.iterparse(fh, events=("start",)):
                return element.tag
    except (ET.ParseError, OSError, EOFError):
        return None
    return None


class Program(click.ParamType):
    """A program to run: a path to an executable file, or a name found on ``PATH``; returned absolute."""

    name = "program"

    def __init__(self, what: str) -> None:
        self.what = what

    def convert(self, value, param, ctx) -> Path:
        path = Path(value)
        on_path = shutil.which(value) if path.parent == Path() and not path.exists() else None
        if on_path is not None:
            return Path(on_path).resolve()
        if path.is_file() and os.access(path, os.X_OK):
            return path.resolve()
        if path.is_dir():
            problem = "is a folder"
        elif path.is_file():
            problem = "is not executable"
        else:
            problem = "no such file, and no program of that name on PATH"
        msg = f"{_name(param)} {value}: {problem}; expected {self.what}."
        raise ValidationError(msg)


class OutputFile(click.ParamType):
    """A file to write; its missing parent folders are created, a folder in its place is refused."""

    name = "file"

    def convert(self, value, param, ctx) -> Path:
        path = Path(value)
        if path.is_dir():
            msg = f"{_name(param)} {path}: is a folder, expected the name of a file to write."
            raise ValidationError(msg)
        _mkdir(path.parent, param, path)
        return path


class OutputDir(click.ParamType):
    """A folder to write into, created with its parents; an existing file in its place is refused."""

    name = "folder"

    def convert(self, value, param, ctx) -> Path:
        path = Path(value)
        if path.exists() and not path.is_dir():
            msg = f"{_name(param)} {path}: is a file, expected a folder to write into."
            raise ValidationError(msg)
        _mkdir(path, param, path)
        return path


class FiniteRange(click.FloatRange):
    """A finite real number within click's ``FloatRange`` bounds; ``nan`` and ``inf`` are refused."""

    name = "number"

    def convert(self, value, param, ctx) -> float:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


_NET = "a SUMO network file (.net.xml)"


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
            "--conflicts", type=InputFile("a conflict overrides file (JSON)"), default=None,
            help="Per-junction conflict overrides (JSON) that every conflict check and plan sees.",
        )(wrapper)
        if argument:
            return click.argument("net", type=InputFile(_NET))(wrapper)
        return click.option("--network", "net", required=True, type=InputFile(_NET),
                            help="SUMO network (.net.xml).")(wrapper)

    return decorator


def junction_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    """Click callback: the junction ids of a comma-separated option (``J1,J2,J3``); None when not given."""
    if value is None:
        return None
    names = [s.strip() for s in value.split(",") if s.strip()]
    if len(names) < 2:
        raise click.BadParameter(f"{value!r} names {len(names)} junction(s); expected two or more, "
                                 f"comma-separated in travel order (e.g. J1,J2,J3).", param=param)
    return names
