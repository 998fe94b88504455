"""Plate sightings: read, hash and check a sightings file (``time_s, camera_id, plate``).

A sightings file (CSV, optionally compressed, or Parquet) holds one row per plate read:

``time_s``
    when the camera read the plate: seconds from the scenario's begin (a number) or an ISO 8601
    time. One file uses one kind.
``camera_id``
    the camera that read it (an id of the camera registry).
``plate``
    the plate as the camera reported it (an opaque, non-empty string).

Privacy by design: every plate is keyed-hashed (HMAC-SHA256, :func:`plate_key`) as its row is
read; the raw plate is never stored in a frame, written or logged, and a message about a bad row
names the row and field but never the plate. Only the first 8 bytes of the digest are kept, as a
signed 64-bit ``plate_id`` (a collision among a day's plates has odds below 1e-9). Sightings older
than the retention window (default 24 h before the newest sighting) are dropped.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import BackendUnavailableError, ValidationError
from .schema import Problem, examples, raise_problems

__all__ = [
    "SIGHTING_COLUMNS",
    "PLATE_KEY_ENV",
    "RETENTION_S",
    "SightingTable",
    "plate_key",
    "hash_plate",
    "read_sightings",
]

#: Columns every sightings file must have.
SIGHTING_COLUMNS: tuple[str, ...] = ("time_s", "camera_id", "plate")
#: Environment variable holding the plate-hashing secret.
PLATE_KEY_ENV = "CITYBRAIN_PLATE_KEY"
#: Default retention window (seconds): sightings older than this before the newest are dropped.
RETENTION_S = 24 * 3600.0
_MIN_KEY_BYTES = 16


@dataclass(frozen=True)
class SightingTable:
    """Hashed plate sightings, checked against a camera registry.

    Attributes
    ----------
    frame : pandas.DataFrame
        ``time_s`` (float seconds from ``origin``), ``camera_id`` (str), ``plate_id`` (int64,
        the keyed hash of the plate), ``row`` (file row number), sorted by ``plate_id`` then time.
    origin : pandas.Timestamp or None
        The time of second 0 when the file used ISO 8601 times, else ``None``.
    source : str
        File name.
    dropped_old : int
        Sightings dropped because they were older than the retention window.
    """

    frame: pd.DataFrame
    origin: pd.Timestamp | None
    source: str
    dropped_old: int = 0

    def __len__(self) -> int:
        return len(self.frame)


def plate_key(key_file: str | Path | None = None) -> bytes:
    """Return the plate-hashing secret: the contents of ``key_file``, else ``$CITYBRAIN_PLATE_KEY``.

    Raises
    ------
    ValidationError
        If neither is given, the key file cannot be read, or the key is shorter than 16 bytes.
    """
    if key_file is not None:
        path = Path(key_file)
        try:
            key = path.read_bytes().strip()
        except OSError as exc:
            msg = f"{path}: cannot read the plate key file: {exc.strerror or exc}."
            raise ValidationError(msg) from exc
        where = str(path)
    else:
        text = os.environ.get(PLATE_KEY_ENV, "")
        if not text:
            msg = (
                f"Reading plate sightings needs a secret key to hash the plates: set {PLATE_KEY_ENV} "
                "or give a key file (--plate-key-file); e.g. `export CITYBRAIN_PLATE_KEY=$(openssl rand -hex 32)`."
            )
            raise ValidationError(msg)
        key, where = text.encode(), PLATE_KEY_ENV
    if len(key) < _MIN_KEY_BYTES:
        msg = f"{where}: the plate key must be at least {_MIN_KEY_BYTES} bytes; got {len(key)}."
        raise ValidationError(msg)
    return key


def hash_plate(plate: str, key: bytes) -> int:
    """The keyed hash of one plate (HMAC-SHA256, first 8 bytes as a signed int64)."""
    digest = hmac.new(key, plate.strip().encode("utf-8"), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "little", signed=True)


def read_sightings(
    path: str | Path,
    registry: pd.DataFrame,
    *,
    key: bytes | None = None,
    retention_s: float = RETENTION_S,
    origin: pd.Timestamp | None = None,
) -> SightingTable:
    """Read a sightings file, hashing every plate as its row is read.

    Parameters
    ----------
    path
        CSV (``.csv``, ``.csv.gz``) or Parquet file with :data:`SIGHTING_COLUMNS`.
    registry
        The camera registry (:func:`~citybrain.counts.read_registry`): known camera ids.
    key
        The hashing secret (default :func:`plate_key` ()).
    retention_s
        Sightings older than this (seconds) before the newest one are dropped; ``> 0``.
    origin
        Time of second 0 for ISO 8601 times (e.g. the count table's origin); default the
        earliest sighting.

    Returns
    -------
    SightingTable

    Raises
    ------
    ValidationError
        Listing every problem (missing column, bad time, unknown camera, empty plate), each
        with its file rows and field, and no plate.
    """
    path = Path(path)
    key = plate_key() if key is None else key
    if not retention_s > 0:
        msg = f"The retention window must be a positive number of seconds. Got {retention_s!r} instead."
        raise ValidationError(msg)
    times, cameras, plate_ids = _read_hashed(path, key)
    source = str(path)
    n = len(times)
    if n == 0:
        raise_problems(source, [Problem("empty", "the file has no sightings")], 0)
    rows = np.arange(n) + 2
    time_text = pd.Series(times, dtype=object).str.strip()
    camera = pd.Series(cameras, dtype=object).str.strip()
    problems: list[Problem] = []
    seconds, origin = _times(time_text, rows, origin, problems)
    known = set(registry["camera_id"].astype(str))
    unknown = ~camera.isin(known).to_numpy()
    if unknown.any():
        problems.append(
            Problem(
                "unknown-camera",
                f"camera_id must be a camera of the registry; got {examples(camera[unknown])}",
                tuple(rows[unknown]),
                "camera_id",
            )
        )
    empty = plate_ids == 0
    if empty.any():
        problems.append(Problem("empty-plate", "plate is empty; expected the plate as read", tuple(rows[empty]), "plate"))
    if problems:
        raise_problems(source, problems, n)
    frame = pd.DataFrame({"time_s": seconds, "camera_id": camera.to_numpy(), "plate_id": plate_ids, "row": rows})
    keep = frame["time_s"].to_numpy() >= frame["time_s"].max() - retention_s
    frame = frame[keep].sort_values(["plate_id", "time_s"], kind="stable").reset_index(drop=True)
    return SightingTable(frame, origin, source, int((~keep).sum()))


def _read_hashed(path: Path, key: bytes) -> tuple[list[str], list[str], np.ndarray]:
    """The time and camera cells of every row and the plates' hashes (0 for an empty plate).

    Plates are hashed one row at a time and not kept.
    """
    if path.is_dir() or not path.exists():
        msg = f"{path}: {'is a folder' if path.is_dir() else 'no such file'}, expected a sightings file (CSV or Parquet)."
        raise ValidationError(msg)
    if path.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet_hashed(path, key)
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    times: list[str] = []
    cameras: list[str] = []
    hashes: list[int] = []
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh, skipinitialspace=True)
            header = [c.strip() for c in next(reader, [])]
            idx = _column_positions(header, path)
            width = max(idx) + 1
            for cells in reader:
                if not cells:
                    continue
                cells = cells + [""] * (width - len(cells))
                times.append(cells[idx[0]])
                cameras.append(cells[idx[1]])
                plate = cells[idx[2]].strip()
                hashes.append(hash_plate(plate, key) if plate else 0)
    except (OSError, UnicodeDecodeError, csv.Error, EOFError) as exc:
        msg = f"{path}: cannot read as CSV: {type(exc).__name__}."
        raise ValidationError(msg) from exc
    return times, cameras, np.array(hashes, dtype=np.int64)


def _read_parquet_hashed(path: Path, key: bytes) -> tuple[list[str], list[str], np.ndarray]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - depends on the environment
        msg = f"{path}: reading Parquet needs pyarrow. Install it with: pip install 'pyarrow==23.*'"
        raise BackendUnavailableError(msg) from exc
    try:
        schema = pq.read_schema(path)
        _column_positions(list(schema.names), path)
        table = pq.read_table(path, columns=list(SIGHTING_COLUMNS))
    except (OSError, ValueError) as exc:
        msg = f"{path}: cannot read as Parquet: {type(exc).__name__}."
        raise ValidationError(msg) from exc
    time_col = table.column("time_s")
    if str(time_col.type).startswith("timestamp"):
        times = [t.isoformat() if t is not None else "" for t in time_col.to_pylist()]
    else:
        times = ["" if t is None else str(t) for t in time_col.to_pylist()]
    cameras = ["" if c is None else str(c) for c in table.column("camera_id").to_pylist()]
    plates = table.column("plate")
    del table
    hashes = np.zeros(len(plates), dtype=np.int64)
    for chunk_start, chunk in _chunks(plates):
        for i, plate in enumerate(chunk.to_pylist()):
            text = "" if plate is None else str(plate).strip()
            hashes[chunk_start + i] = hash_plate(text, key) if text else 0
    del plates
    return times, cameras, hashes


def _chunks(column):
    start = 0
    for chunk in column.chunks:
        yield start, chunk
        start += len(chunk)


def _column_positions(header: list[str], path: Path) -> list[int]:
    missing = [c for c in SIGHTING_COLUMNS if c not in header]
    if missing:
        problem = Problem(
            "missing-column",
            f"missing column(s) {', '.join(missing)}; a sightings file needs {', '.join(SIGHTING_COLUMNS)} "
            f"(found {', '.join(header) or 'none'})",
        )
        raise_problems(str(path), [problem], 0)
    return [header.index(c) for c in SIGHTING_COLUMNS]


def _times(
    text: pd.Series, rows: np.ndarray, origin: pd.Timestamp | None, problems: list[Problem]
) -> tuple[np.ndarray, pd.Timestamp | None]:
    """Seconds from the origin of every sighting (NaN where bad); seconds or ISO 8601, one kind per file."""
    num = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    if np.isfinite(num).sum() >= len(text) / 2:
        good = np.isfinite(num) & (num >= 0)
        seconds, origin, expected = np.where(good, num, np.nan), None, "seconds >= 0 from the scenario's begin"
    else:
        stamps = pd.to_datetime(text, errors="coerce", format="ISO8601")
        if stamps.dt.tz is not None:
            stamps = stamps.dt.tz_convert(None)
        good = stamps.notna().to_numpy()
        seconds, expected = np.full(len(text), np.nan), "an ISO 8601 time (2024-05-01T07:15:03)"
        if good.any():
            origin = stamps[good].min() if origin is None else pd.Timestamp(origin)
            seconds = (stamps - origin).dt.total_seconds().to_numpy(dtype=np.float64)
    if (~good).any():
        problems.append(Problem("bad-time", f"time_s must be {expected} like the other rows; got {examples(text[~good])}",
                                tuple(rows[~good]), "time_s"))
    return seconds, origin

