"""Count and registry files on disk: CSV (optionally compressed) and Parquet, read as cells."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import BackendUnavailableError, ValidationError
from .schema import COUNT_COLUMNS, CountTable

__all__ = ["read_count_frame", "read_count_cells", "cells_as_text", "write_counts"]


def read_count_frame(path: str | Path) -> pd.DataFrame:
    """Read a count or registry file (CSV or Parquet) as strings, without validating it.

    Every column is read as text (``""`` for empty cells) so that validation can report
    mistyped values by row.

    Raises
    ------
    ValidationError
        If the file is missing, unreadable or has no rows.
    """
    frame = read_count_cells(path)
    if not _is_parquet(Path(path)):
        return frame
    for col in frame.columns:
        frame[col] = cells_as_text(frame[col]).fillna("").astype(str)
    return frame


def read_count_cells(path: str | Path) -> pd.DataFrame:
    """Read a count file as validation reads it, without validating it.

    A CSV file is read as text (as :func:`read_count_frame`); a Parquet file keeps its number
    columns as numbers and its text columns as categories (times become their ISO 8601 text, to
    the second), so that validation parses no number and copies no string it does not quote in
    a message. Its cells render as :func:`read_count_frame`'s.

    Raises
    ------
    ValidationError
        If the file is missing or unreadable.
    """
    path = Path(path)
    if path.is_dir():
        msg = f"{path}: is a folder, expected a count or camera registry file (CSV or Parquet)."
        raise ValidationError(msg)
    if not path.exists():
        msg = f"{path}: no such file."
        raise ValidationError(msg)
    suffix = "".join(path.suffixes[-2:]).lower()
    try:
        if _is_parquet(path):
            frame = _read_parquet(path)
        else:
            frame = pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                skipinitialspace=True,
                compression="infer",
            )
    except ValidationError:
        raise
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = f"{path}: cannot read as {'Parquet' if 'parquet' in suffix else 'CSV'}: {detail}."
        raise ValidationError(msg) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def _read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet file's columns as pandas reads them, text columns as categories (Arrow dictionaries)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - depends on the environment
        msg = f"{path}: reading Parquet needs pyarrow. Install it with: pip install 'pyarrow==23.*'"
        raise BackendUnavailableError(msg) from exc
    schema = pq.read_schema(path)
    index = {c for c in (schema.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)}
    text = [f.name for f in schema if f.name not in index and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))]
    table = pq.read_table(path, read_dictionary=text).unify_dictionaries()
    frame = table.drop_columns(text).to_pandas()
    if len(frame) != table.num_rows:  # every column was text
        frame = pd.DataFrame(index=pd.RangeIndex(table.num_rows))
    for col in text:
        frame[col] = _categories(table.column(col))
    for col in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[col]):  # times read as their ISO 8601 text, to the second
            frame[col] = frame[col].dt.strftime("%Y-%m-%dT%H:%M:%S").fillna("").astype(str)
    return frame[[c for c in table.column_names if c in frame.columns]]


def _categories(column) -> pd.Categorical:
    """A dictionary-encoded Arrow column (one dictionary for all chunks) as a categorical, nulls as missing."""
    import pyarrow as pa

    chunks = column.chunks
    if not chunks:
        return pd.Categorical([])
    codes = np.concatenate([(c.indices.fill_null(-1) if c.null_count else c.indices).to_numpy(zero_copy_only=False) for c in chunks])
    categories = pd.Index(chunks[0].dictionary.cast(pa.large_string()).to_pandas(), dtype=object)
    if not categories.is_unique:
        return pd.Categorical(column.cast(pa.large_string()).to_pandas().to_numpy(dtype=object))
    return pd.Categorical.from_codes(codes, categories=categories, validate=False)  # Arrow's indices are valid


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value)
    return str(value)


def cells_as_text(values: pd.Series) -> pd.Series:
    """Every cell as text, as validation reads it (``""`` for None, ``"nan"`` for NaN), vectorised for typed columns."""
    if isinstance(values.dtype, pd.CategoricalDtype) and (
        pd.api.types.is_object_dtype(values.cat.categories.dtype) or pd.api.types.is_string_dtype(values.cat.categories.dtype)
    ):
        # text categories: each distinct cell rendered once (text as it stands)
        categories = values.cat.categories
        if pd.api.types.infer_dtype(categories, skipna=False) == "string":
            text = categories.to_numpy(dtype=object)
        else:
            text = categories.to_series().map(_cell_text).to_numpy(dtype=object)
        codes = values.cat.codes.to_numpy()
        rendered = np.append(text, "nan")[np.where(codes < 0, len(text), codes)]
        return pd.Series(rendered, index=values.index, dtype=object)
    if pd.api.types.is_float_dtype(values.dtype) and isinstance(values.dtype, np.dtype):
        return pd.Series(values.to_numpy().astype(str), index=values.index, dtype=object)  # numpy's repr text
    if (pd.api.types.is_integer_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)) and isinstance(
        values.dtype, np.dtype
    ):
        return pd.Series(values.to_numpy().astype(str), index=values.index, dtype=object)
    if pd.api.types.is_string_dtype(values.dtype) and not pd.api.types.is_object_dtype(values.dtype):
        return values.fillna("nan")  # a missing text cell reads as NaN, as _cell_text renders it
    return values.astype(object).map(_cell_text)


def write_counts(table: CountTable | pd.DataFrame, path: str | Path) -> Path:
    """Write counts in the count schema to CSV or Parquet (by the file suffix).

    Returns
    -------
    pathlib.Path
        The written path.
    """
    path = Path(path)
    frame = table.frame if isinstance(table, CountTable) else table
    out = frame[list(COUNT_COLUMNS)].copy()
    if isinstance(table, CountTable) and table.origin is not None:
        out["interval_start"] = [
            (table.origin + pd.Timedelta(seconds=float(s))).isoformat() for s in out["interval_start"]
        ]
    if path.suffix.lower() in (".parquet", ".pq"):
        out.to_parquet(path, index=False)
    else:
        out.to_csv(path, index=False)
    return path
