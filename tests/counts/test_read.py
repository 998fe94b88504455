"""read_counts, counts_from_frame, check_counts: a file or frame to a CountTable, strict or lenient."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from citybrain.counts import COUNT_COLUMNS, CountTable, check_counts, counts_from_frame, read_counts
from citybrain.exceptions import ValidationError

from .conftest import BAD, DATA


def test_good_file_reads_clean(grid):
    table = read_counts(DATA / "good_counts.csv", grid)
    assert isinstance(table, CountTable)
    assert len(table) == 14
    assert table.interval_s == 900.0
    assert table.report.ok
    assert list(table.intervals) == [0.0, 900.0]
    assert set(table.frame["to_edge"]) >= {""}
    assert list(table.frame["row"]) == list(range(2, 16))


def test_lenient_drops_bad_rows_and_keeps_report(grid):
    table = read_counts(BAD / "many_problems.csv", grid, strict=False)
    assert not table.report.ok
    assert set(table.report.dropped_rows) == {2, 3, 4, 5, 7, 8, 16}
    assert len(table) == 15 - 7
    assert (table.frame["count"] >= 0).all()


def test_lenient_still_refuses_unusable_file(grid):
    with pytest.raises(ValidationError, match="missing column"):
        read_counts(BAD / "missing_column.csv", grid, strict=False)


def test_lenient_refuses_when_no_row_is_left(grid):
    frame = pd.DataFrame([("0", "900", "c", "Z9", "A1B1", "", "3")], columns=list(COUNT_COLUMNS))
    with pytest.raises(ValidationError, match="No usable row is left") as info:
        counts_from_frame(frame, grid, strict=False, source="one.csv")
    assert info.value.problems == ["one.csv, row 2, field 'junction': unknown junction id (not a node of the network): 'Z9' [unknown-junction]"]


def test_typed_frame_reads_like_its_file(grid):
    text = read_counts(DATA / "good_counts.csv", grid)
    typed = counts_from_frame(pd.read_csv(DATA / "good_counts.csv", keep_default_na=False), grid)
    pd.testing.assert_frame_equal(typed.frame, text.frame)


def test_check_counts_reads_a_registry_file(grid, tmp_path):
    registry = tmp_path / "cameras.csv"
    pd.DataFrame({"camera_id": ["c"], "junction": ["B1"], "from_edge": ["A1B1"], "to_edge": [""], "lanes": [2]}).to_csv(
        registry, index=False
    )
    report = check_counts(DATA / "good_counts.csv", grid, registry=registry)
    assert {p.code for p in report.problems} == {"unknown-camera"}
    registry.write_text("camera_id\n")
    with pytest.raises(ValidationError, match="a registry needs"):
        read_counts(DATA / "good_counts.csv", grid, registry=registry)


def test_without_a_network_only_the_file_is_checked():
    report = check_counts(BAD / "unknown_ids.csv")
    assert report.ok
    table = read_counts(BAD / "negative_count.csv", strict=False)
    assert np.all(table.frame["count"] >= 0)
