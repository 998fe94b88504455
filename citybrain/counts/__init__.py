"""Camera counts: the count schema, readers, validation against a road network.

The schema (columns of a count file and a camera registry) is in :mod:`.schema`.
:func:`read_counts` reads and validates a file and returns a :class:`CountTable`;
:func:`counts_from_frame` does the same for a frame in memory, :func:`check_counts` returns the
report only. Validation (:func:`validate_counts`) collects **every** problem, each with its file
rows, before it decides; strict mode raises one
:class:`~citybrain.exceptions.ValidationError` listing them all, lenient mode drops the rows
with problems and keeps the :class:`CountReport` beside the table.

Modules: :mod:`.schema` (columns, :class:`Problem`, :class:`CountReport`, :class:`CountTable`),
:mod:`.files` (CSV / Parquet as text cells, :func:`write_counts`), :mod:`.validate` (the checks),
:mod:`.places` (ids and movements against the network), :mod:`.registry` (camera registries),
:mod:`.read` (file or frame to a :class:`CountTable`).
"""

from __future__ import annotations

from .files import read_count_cells, read_count_frame, write_counts
from .read import check_counts, counts_from_frame, read_counts
from .registry import read_registry, registry_from_frame
from .schema import COUNT_COLUMNS, DEFAULT_CAMERA_RANGE_M, FILE_CODES, QUEUE_COLUMN, REGISTRY_COLUMNS, CountReport, CountTable, Problem
from .validate import validate_counts

__all__ = [
    "COUNT_COLUMNS",
    "QUEUE_COLUMN",
    "DEFAULT_CAMERA_RANGE_M",
    "REGISTRY_COLUMNS",
    "Problem",
    "CountReport",
    "CountTable",
    "read_count_frame",
    "read_count_cells",
    "read_counts",
    "counts_from_frame",
    "validate_counts",
    "check_counts",
    "read_registry",
    "registry_from_frame",
    "write_counts",
    "FILE_CODES",
]
