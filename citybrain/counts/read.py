"""From a count file or frame to a :class:`~citybrain.counts.CountTable`, strict or lenient.

Validation collects **every** problem (with the file row number: the header is row 1, the
first data row row 2) before it decides: in strict mode any problem raises one
:class:`~citybrain.exceptions.ValidationError` listing them all; in lenient mode the rows with
problems are dropped and the :class:`~citybrain.counts.CountReport` travels with the table.
Problems that make the whole file unusable (unreadable, empty, missing or mistyped columns)
always raise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..network import RoadNetwork
from .files import read_count_cells
from .registry import read_registry
from .schema import CountReport, CountTable, raise_problems
from .validate import text_ids, validate_cells

__all__ = ["counts_from_frame", "read_counts", "check_counts"]


def counts_from_frame(
    frame: pd.DataFrame,
    network: RoadNetwork | None = None,
    *,
    strict: bool = True,
    registry: pd.DataFrame | None = None,
    source: str = "<frame>",
    max_lane_flow_vph: float = 2000.0,
) -> CountTable:
    """Validate a count frame and return a :class:`~citybrain.counts.CountTable`.

    Parameters
    ----------
    frame
        A frame with the schema columns (values may be text or numbers).
    network, registry, source, max_lane_flow_vph
        As in :func:`~citybrain.counts.validate_counts`.
    strict
        Raise on any problem (``True``), or drop the rows with problems and keep the report
        (``False``).

    Returns
    -------
    CountTable

    Raises
    ------
    ValidationError
        With every problem listed: in strict mode for any problem, in lenient mode when the
        file is unusable as a whole (empty, missing or mistyped columns) or no row survives.
    """
    report, parsed, origin = validate_cells(
        frame, network, registry=registry, source=source, max_lane_flow_vph=max_lane_flow_vph
    )
    if report.unusable or (strict and not report.ok):
        raise_problems(source, list(report.problems), report.n_rows)
    keep = ~parsed.pop("_bad").to_numpy()
    if not keep.any():
        raise_problems(source, list(report.problems), report.n_rows, note="No usable row is left.")
    table = text_ids(parsed if keep.all() else parsed[keep].reset_index(drop=True))
    values, freq = np.unique(table["interval_s"].to_numpy(), return_counts=True)
    return CountTable(frame=table, origin=origin, interval_s=float(values[np.argmax(freq)]), report=report)


def read_counts(
    path: str | Path,
    network: RoadNetwork | None = None,
    *,
    strict: bool = True,
    registry: pd.DataFrame | str | Path | None = None,
    max_lane_flow_vph: float = 2000.0,
) -> CountTable:
    """Read a count file (CSV or Parquet), validate it and return a :class:`~citybrain.counts.CountTable`.

    Parameters
    ----------
    path
        ``.csv`` (optionally compressed) or ``.parquet`` file in the count schema.
    network
        Road network to check ids and movements against (recommended).
    strict
        ``True`` (default): any problem raises. ``False``: rows with problems are dropped and
        the report is kept in ``CountTable.report``.
    registry
        Camera registry frame (from :func:`~citybrain.counts.read_registry`) or file.
    max_lane_flow_vph
        Plausibility ceiling: the highest flow per lane (veh/h) a count may imply.

    Returns
    -------
    CountTable
        The file's rows with the schema columns parsed; in lenient mode without the rows that
        have a problem, and with the report of every problem.

    Raises
    ------
    ValidationError
        Listing every problem with file row numbers (see :func:`counts_from_frame`).
    """
    registry = _registry_frame(registry, network)
    return counts_from_frame(
        read_count_cells(path),
        network,
        strict=strict,
        registry=registry,
        source=str(path),
        max_lane_flow_vph=max_lane_flow_vph,
    )


def check_counts(
    path: str | Path,
    network: RoadNetwork | None = None,
    *,
    registry: pd.DataFrame | str | Path | None = None,
    max_lane_flow_vph: float = 2000.0,
) -> CountReport:
    """Return the full validation report of a count file without raising for row problems.

    Parameters are those of :func:`read_counts`.

    Raises
    ------
    ValidationError
        Only when the file (or the registry) cannot be read at all.
    """
    registry = _registry_frame(registry, network)
    report, _, _ = validate_cells(
        read_count_cells(path), network, registry=registry, source=str(path), max_lane_flow_vph=max_lane_flow_vph
    )
    return report


def _registry_frame(registry: pd.DataFrame | str | Path | None, network: RoadNetwork | None) -> pd.DataFrame | None:
    """A registry frame as given, or read (and checked) from its file."""
    if registry is not None and not isinstance(registry, pd.DataFrame):
        return read_registry(registry, network)
    return registry
