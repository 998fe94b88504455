"""Count files on disk: CSV and Parquet read as text cells, and written back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from citybrain.counts import counts_from_frame, read_count_frame, read_counts, write_counts
from citybrain.counts.files import cells_as_text
from citybrain.exceptions import ValidationError

from .conftest import BAD, DATA


def test_cells_are_read_as_text():
    frame = read_count_frame(DATA / "good_counts.csv")
    assert all(frame[c].map(type).eq(str).all() for c in frame.columns)
    assert (frame["to_edge"] == "").any()


@pytest.mark.parametrize(("name", "message"), [("binary.csv", "cannot read as CSV"), ("garbage.parquet", "cannot read as Parquet")])
def test_unreadable_files_are_named(name, message):
    with pytest.raises(ValidationError, match=message) as info:
        read_count_frame(BAD / name)
    assert str(BAD / name) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ValidationError, match="no such file"):
        read_count_frame(tmp_path / "none.csv")


def test_cells_as_text_renders_typed_values():
    assert list(cells_as_text(pd.Series([1.5, np.nan]))) == ["1.5", "nan"]
    assert list(cells_as_text(pd.Series([3, 4]))) == ["3", "4"]
    assert list(cells_as_text(pd.Series(["a", None], dtype=object))) == ["a", ""]


def test_iso_times_and_parquet_round_trip(grid, tmp_path):
    frame = pd.read_csv(DATA / "good_counts.csv", dtype=str, keep_default_na=False)
    frame["interval_start"] = frame["interval_start"].map(
        lambda s: (pd.Timestamp("2024-05-01T07:00:00") + pd.Timedelta(seconds=float(s))).isoformat()
    )
    frame["weather"] = "dry"  # extra columns are kept and ignored
    table = counts_from_frame(frame, grid)
    assert table.origin == pd.Timestamp("2024-05-01T07:00:00")
    assert list(table.intervals) == [0.0, 900.0]
    assert "weather" in table.frame.columns
    again = read_counts(write_counts(table, tmp_path / "counts.csv"), grid)
    assert again.origin == table.origin
    pytest.importorskip("pyarrow")
    path = write_counts(table, tmp_path / "counts.parquet")
    again = read_counts(path, grid)
    assert again.origin == table.origin
    np.testing.assert_array_equal(again.frame["count"], table.frame["count"])


def test_parquet_times_read_as_iso_text(grid, tmp_path):
    pytest.importorskip("pyarrow")
    frame = pd.read_csv(DATA / "good_counts.csv", keep_default_na=False)
    frame["interval_start"] = pd.Timestamp("2024-05-01T07:00:00") + pd.to_timedelta(frame["interval_start"], unit="s")
    frame.loc[1, "interval_start"] = pd.NaT
    path = tmp_path / "times.parquet"
    frame.to_parquet(path, index=False)
    text = read_count_frame(path)
    assert text.loc[0, "interval_start"] == "2024-05-01T07:00:00" and text.loc[1, "interval_start"] == ""
    report = read_counts(path, grid, strict=False).report
    assert [(p.code, p.rows) for p in report.problems] == [("bad-time", (3,))]
    assert report.to_dict() == counts_from_frame(text, grid, strict=False, source=str(path)).report.to_dict()
