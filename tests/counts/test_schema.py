"""The count schema: problems, reports and tables, as they are shown and handed on."""

from __future__ import annotations

import pandas as pd
import pytest

from citybrain.counts import COUNT_COLUMNS, FILE_CODES, REGISTRY_COLUMNS, CountReport, CountTable, Problem
from citybrain.counts.schema import examples, missing_columns, raise_problems
from citybrain.exceptions import ValidationError


def test_columns():
    assert COUNT_COLUMNS == ("interval_start", "interval_s", "camera_id", "junction", "from_edge", "to_edge", "count")
    assert REGISTRY_COLUMNS == ("camera_id", "junction", "from_edge", "to_edge", "lanes")


def test_problem_format_names_file_rows_and_field():
    assert Problem("gap", "no counts").format() == "no counts [gap]"
    assert Problem("x", "bad", (4,), "count").format("f.csv") == "f.csv, row 4, field 'count': bad [x]"
    many = Problem("x", "bad", tuple(range(2, 30))).format("f.csv")
    assert many.startswith("f.csv, rows 2, 3,") and "21 and 8 more: bad [x]" in many


def test_report_ok_unusable_and_dict():
    assert CountReport("f.csv", 3).format() == "f.csv: 3 rows, no problems."
    report = CountReport("f.csv", 3, (Problem("negative-count", "negative", (2,), "count"),), (2,))
    assert not report.ok and not report.unusable
    assert report.format() == "f.csv: 3 rows, 1 problem(s):\n  f.csv, row 2, field 'count': negative [negative-count]"
    assert report.to_dict() == {
        "source": "f.csv", "rows": 3, "ok": False, "dropped_rows": [2],
        "problems": [{"code": "negative-count", "field": "count", "rows": [2], "message": "negative"}],
    }
    for code in FILE_CODES:
        assert CountReport("f.csv", 0, (Problem(code, "m"),)).unusable


def test_table_intervals_are_sorted_and_distinct():
    frame = pd.DataFrame({"interval_start": [900.0, 0.0, 900.0], "count": [1.0, 2.0, 3.0]})
    table = CountTable(frame, None, 900.0)
    assert len(table) == 3 and list(table.intervals) == [0.0, 900.0]
    assert table.report.ok


def test_missing_columns_and_raise_problems():
    frame = pd.DataFrame({"camera_id": ["a"]})
    assert missing_columns(frame, ("camera_id",), "a registry") is None
    problem = missing_columns(frame, ("camera_id", "lanes"), "a registry")
    assert problem.code == "missing-column"
    assert problem.message == "missing column(s) lanes; a registry needs camera_id, lanes (found camera_id)"
    with pytest.raises(ValidationError) as info:
        raise_problems("r.csv", [problem], 1, note="Nothing read.")
    assert str(info.value).endswith("[missing-column]\nNothing read.")
    assert info.value.problems == [problem.format("r.csv")]


def test_examples_quote_distinct_values():
    assert examples(pd.Series(["a", "b", "a"])) == "'a', 'b'"
    assert examples(pd.Series([str(i) for i in range(8)])) == "'0', '1', '2', '3', '4' and 3 more"
