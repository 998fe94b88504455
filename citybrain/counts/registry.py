"""The camera registry: what each camera sees (``camera_id, junction, from_edge, to_edge, lanes``).

A registry is a table (CSV or Parquet), so it is checked column by column like a count file,
each problem naming its file rows, rather than field by field like the dict-shaped inputs of
:mod:`citybrain._validate`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..network import RoadNetwork
from .files import read_count_frame
from .places import check_places
from .schema import DEFAULT_CAMERA_RANGE_M, REGISTRY_COLUMNS, Problem, examples, missing_columns, raise_problems

__all__ = ["read_registry", "registry_from_frame"]


def read_registry(path: str | Path, network: RoadNetwork | None = None) -> pd.DataFrame:
    """Read a camera registry (``camera_id, junction, from_edge, to_edge, lanes``).

    ``lanes`` is the number of lanes the camera watches, or their space-separated SUMO lane
    ids (as the twin writes them); it is returned as the number. An optional ``range_m`` says
    how far back from the stop line the camera sees a queue (metres; blank or absent:
    :data:`~citybrain.counts.DEFAULT_CAMERA_RANGE_M`).

    Parameters
    ----------
    path
        CSV or Parquet file.
    network
        When given, junctions, edges and movements are checked against it.

    Returns
    -------
    pandas.DataFrame
        One row per camera, ``to_edge`` ``""`` for an approach camera, ``lanes`` int.

    Raises
    ------
    ValidationError
        Listing every problem (missing columns, duplicate cameras, bad lane numbers,
        unknown junctions or edges), each with its row number.
    """
    return registry_from_frame(read_count_frame(path), network, source=str(path))


def registry_from_frame(
    frame: pd.DataFrame, network: RoadNetwork | None = None, *, source: str = "<frame>"
) -> pd.DataFrame:
    """Check a camera registry frame and return it with ``lanes`` as the number of lanes.

    Parameters
    ----------
    frame
        The registry's cells (text, as :func:`~citybrain.counts.read_count_frame` reads them,
        or typed values).
    network
        When given, junctions, edges and movements are checked against it.
    source
        Name used in messages.

    Returns
    -------
    pandas.DataFrame
        As :func:`read_registry`.

    Raises
    ------
    ValidationError
        As :func:`read_registry`.
    """
    missing = missing_columns(frame, REGISTRY_COLUMNS, "a registry")
    if missing is not None:
        raise_problems(source, [missing], len(frame))
    problems: list[Problem] = []
    rows = np.arange(len(frame)) + 2
    frame = frame.copy()
    for col in ("camera_id", "junction", "from_edge", "to_edge"):
        frame[col] = frame[col].astype(str).str.strip()
    lane_text = frame["lanes"].astype(str).str.strip()
    lanes = pd.to_numeric(lane_text, errors="coerce")
    as_ids = lanes.isna() & (lane_text != "") & (lane_text.str.lower() != "nan")
    lanes[as_ids] = lane_text[as_ids].str.split().map(len)
    bad = ~(lanes.notna() & (lanes >= 1) & (lanes == np.floor(lanes)))
    if bad.any():
        problems.append(
            Problem(
                "bad-lanes",
                "lanes must be a whole number >= 1 or the space-separated lane ids; "
                f"got {examples(frame['lanes'][bad])}",
                tuple(rows[bad.to_numpy()]),
                "lanes",
            )
        )
    dup = frame[["camera_id", "to_edge"]].duplicated(keep=False)
    if dup.any():
        problems.append(
            Problem(
                "duplicate-camera",
                f"(camera_id, to_edge) listed more than once: {examples(frame['camera_id'][dup])}",
                tuple(rows[dup.to_numpy()]),
                "camera_id",
            )
        )
    places = frame.groupby("camera_id")[["junction", "from_edge"]].nunique()
    split = places[(places["junction"] > 1) | (places["from_edge"] > 1)].index
    if len(split):
        mask = frame["camera_id"].isin(split).to_numpy()
        problems.append(
            Problem(
                "camera-places",
                f"a camera watches one approach (junction, from_edge); these list several: {examples(pd.Series(split))}",
                tuple(rows[mask]),
                "camera_id",
            )
        )
    if "range_m" in frame.columns:
        range_text = frame["range_m"].astype(str).str.strip()
        reach = pd.to_numeric(range_text, errors="coerce")
        blank = range_text.str.lower().isin(["", "nan", "none"])
        bad_range = ~blank & ~(np.isfinite(reach) & (reach > 0))
        if bad_range.any():
            problems.append(
                Problem(
                    "bad-range",
                    f"range_m must be a positive number of metres (or blank for {DEFAULT_CAMERA_RANGE_M:g} m); "
                    f"got {examples(frame['range_m'][bad_range])}",
                    tuple(rows[bad_range.to_numpy()]),
                    "range_m",
                )
            )
        frame["range_m"] = reach.where(~blank & ~bad_range, DEFAULT_CAMERA_RANGE_M)
    else:
        frame["range_m"] = DEFAULT_CAMERA_RANGE_M
    empty = frame["camera_id"] == ""
    if empty.any():
        problems.append(Problem("empty-id", "camera_id is empty", tuple(rows[empty.to_numpy()]), "camera_id"))
    if network is not None:
        problems.extend(check_places(frame, rows, network)[0])
    if problems:
        raise_problems(source, problems, len(frame))
    frame["lanes"] = lanes.astype(np.int64)
    return frame[list(REGISTRY_COLUMNS) + [c for c in frame.columns if c not in REGISTRY_COLUMNS]]
