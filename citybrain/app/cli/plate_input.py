"""Plate sightings as a command's input: ``--sightings S`` and ``--plate-key-file K``, read into path fragments.

Shared by ``citybrain estimate`` and ``citybrain traffic-state``. The plates are keyed-hashed
as the file is read (:func:`citybrain.counts.sightings.read_sightings`); only fragments,
without plates, leave this module.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
import pandas as pd

from citybrain.counts.sightings import plate_key, read_sightings
from citybrain.estimation import PathFragments, link_fragments
from citybrain.exceptions import ValidationError
from citybrain.network import RoadNetwork
from .options import InputFile

__all__ = ["plate_options", "read_fragments"]


def plate_options(func: Callable) -> Callable:
    """Add ``--sightings`` and ``--plate-key-file`` (passed as ``sightings`` and ``plate_key_file``)."""
    func = click.option(
        "--plate-key-file", type=InputFile("a plate key file"), default=None,
        help="Secret for hashing the plates (default: $CITYBRAIN_PLATE_KEY).",
    )(func)
    return click.option(
        "--sightings", type=InputFile("a sightings file (CSV or Parquet: time_s, camera_id, plate)"), default=None,
        help="Plate sightings (time_s, camera_id, plate); needs --registry. Plates are hashed as they are read.",
    )(func)


def read_fragments(
    network: RoadNetwork, sightings: Path, registry: pd.DataFrame | None, key_file: Path | None,
    counts_origin: pd.Timestamp | None | bool = False,
) -> PathFragments:
    """Read, hash and link a sightings file into path fragments.

    ``counts_origin`` is the count table's origin (``None``: its times are seconds) when the
    sightings must share the counts' clock; ``False`` when there are no counts.

    Raises
    ------
    ValidationError
        If no registry is given, no key is set, the file has problems (rows and fields named,
        never a plate), or its kind of time differs from the counts'.
    """
    if registry is None:
        msg = "--sightings needs --registry: the sightings name cameras of the camera registry."
        raise ValidationError(msg)
    origin = None if counts_origin is False else counts_origin
    table = read_sightings(sightings, registry, key=plate_key(key_file), origin=origin)
    if counts_origin is not False and (table.origin is None) != (counts_origin is None):
        kinds = ("seconds", "ISO 8601 times")
        msg = (f"{sightings}: time_s holds {kinds[table.origin is not None]} but the counts' interval_start holds "
               f"{kinds[counts_origin is not None]}; expected one kind of time in both files.")
        raise ValidationError(msg)
    return link_fragments(network, table, registry)
