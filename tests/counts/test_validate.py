"""validate_counts: every problem of a count file, with its rows, in the order of the checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citybrain.counts import COUNT_COLUMNS, check_counts, counts_from_frame, read_count_frame, read_counts, validate_counts
from citybrain.counts.files import cells_as_text
from citybrain.exceptions import ValidationError

from .conftest import BAD, DATA, EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_corpus_reports_every_problem(grid, name):
    path = BAD / name
    codes = EXPECTED[name]
    if codes == ["unreadable"]:
        with pytest.raises(ValidationError, match="cannot read"):
            check_counts(path, grid)
        return
    report = check_counts(path, grid)
    assert sorted({p.code for p in report.problems}) == sorted(codes)
    text = report.format()
    assert str(path) in text
    for line in report.lines():
        assert str(path) in line
    # every row-level problem names its rows
    for p in report.problems:
        if p.code not in {"gap", "camera-gap", "missing-column", "mistyped-column", "empty"}:
            assert p.rows, p
    # strict mode refuses with the same full report
    with pytest.raises(ValidationError) as info:
        read_counts(path, grid, strict=True)
    assert len(info.value.problems) == len(report.problems)


def test_many_problems_listed_together_with_rows(grid):
    report = check_counts(BAD / "many_problems.csv", grid)
    by_code = {p.code: p for p in report.problems}
    assert by_code["negative-count"].rows == (2,)
    assert by_code["non-integer-count"].rows == (3,)
    assert by_code["unknown-junction"].rows == (4,)
    assert by_code["nan-count"].rows == (5,)
    assert by_code["duplicate"].rows == (7, 16)
    assert "negative count" in report.format()


def test_problems_come_in_the_order_of_the_checks(grid):
    report = check_counts(BAD / "many_problems.csv", grid)
    assert [p.code for p in report.problems] == [
        "nan-count", "negative-count", "non-integer-count", "duplicate", "unknown-junction", "implausible-count"
    ]
    assert report.dropped_rows == (2, 3, 4, 5, 7, 8, 16)


def test_a_file_level_problem_stops_the_checks(grid):
    frame = read_count_frame(BAD / "mistyped_count_column.csv")
    report, parsed, origin = validate_counts(frame, grid, source="x.csv")
    assert report.unusable and parsed.empty and origin is None
    assert report.problems[-1].code == "mistyped-column" and report.problems[-1].field == "count"
    report, parsed, _ = validate_counts(frame.iloc[:0], grid)
    assert [p.code for p in report.problems] == ["empty"] and report.n_rows == 0


def test_far_interval_start_is_a_bad_time_not_an_overflow(grid):
    rows = [("0", "900", "B1", "B1", "A1B1", "", "10"), ("1.7976931348623157e+308", "900", "B1", "B1", "A1B1", "", "10"),
            ("1.9e22", "900", "B1", "B1", "A1B1", "", "10")]
    frame = pd.DataFrame(rows, columns=list(COUNT_COLUMNS))
    with pytest.raises(ValidationError, match="about 30 years"):
        counts_from_frame(frame, grid)
    table = counts_from_frame(frame, grid, strict=False)
    assert set(table.report.dropped_rows) >= {3, 4}


def test_negative_count_message(grid):
    with pytest.raises(ValidationError, match="negative count"):
        read_counts(BAD / "negative_count.csv", grid)


def test_max_lane_flow_is_the_plausibility_ceiling(grid):
    assert check_counts(DATA / "good_counts.csv", grid).ok
    report = check_counts(DATA / "good_counts.csv", grid, max_lane_flow_vph=10.0)
    assert {p.code for p in report.problems} == {"implausible-count"}
    assert "10 veh/h per lane" in report.problems[0].message
    high = check_counts(BAD / "implausible_count.csv", grid, max_lane_flow_vph=1e6)
    assert high.ok


def test_iso_times_give_an_origin(grid):
    frame = read_count_frame(DATA / "good_counts.csv")
    frame["interval_start"] = frame["interval_start"].map(
        lambda s: (pd.Timestamp("2024-05-01T07:00:00") + pd.Timedelta(seconds=float(s))).isoformat()
    )
    report, parsed, origin = validate_counts(frame, grid)
    assert report.ok and origin == pd.Timestamp("2024-05-01T07:00:00")
    assert sorted(set(parsed["interval_start"])) == [0.0, 900.0]
    frame.loc[0, "interval_start"] = "soon"
    report, _, _ = validate_counts(frame, grid)
    assert [(p.code, p.rows) for p in report.problems] == [("bad-time", (2,))]


_ids = st.sampled_from(["B1", "A1B1", "B1B0", "", "Z9", "nan", "  B1 "])
_nums = st.one_of(
    st.integers(-5, 5000).map(str), st.floats(allow_nan=True, allow_infinity=True).map(str), st.sampled_from(["", "x", "1e3"])
)


# the network fixture's repr is large; Hypothesis warns when it prints the arguments
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(_nums, st.sampled_from(["900", "300", "0", "-1", "abc"]), _ids, _ids, _ids, _ids, _nums),
        min_size=0,
        max_size=12,
    )
)
def test_any_table_gives_a_report_or_validation_error(grid, rows):
    frame = pd.DataFrame(rows, columns=list(COUNT_COLUMNS))
    for strict in (True, False):
        try:
            table = counts_from_frame(frame, grid, strict=strict)
        except ValidationError as exc:
            assert str(exc)
            continue
        good = table.frame
        assert (good["count"] >= 0).all() and np.isfinite(good["count"]).all()
        assert (good["count"] == np.floor(good["count"])).all()


def test_queue_column_is_parsed_and_blank_means_not_reported(grid):
    frame = read_count_frame(BAD / "negative_queue.csv")
    frame.loc[2, "queue_veh"] = ""
    table = counts_from_frame(frame, grid)
    queue = table.frame["queue_veh"].to_numpy()
    assert np.isnan(queue[2])
    assert queue[1] == 1.0 and queue[3] == 3.0


def test_negative_queue_names_rows_and_field(grid):
    report = check_counts(BAD / "negative_queue.csv", grid)
    (problem,) = report.problems
    assert problem.rows == (4,)
    assert problem.field == "queue_veh"
    assert "negative queue" in problem.message and "-2" in problem.message


def test_parquet_cells_report_like_their_text(grid, tmp_path):
    """A Parquet file (typed columns, text as dictionaries) gets the report and table of its text."""
    pytest.importorskip("pyarrow")
    for name in ("many_problems.csv", "gap.csv", "duplicate.csv", "misaligned.csv", "empty_id.csv", "negative_queue.csv"):
        typed = pd.read_csv(BAD / name, keep_default_na=False)
        typed["junction"] = typed["junction"].astype("category")  # a categorical column in memory too
        path = tmp_path / (name + ".parquet")
        typed.to_parquet(path, index=False)
        text = pd.DataFrame({c: cells_as_text(typed[c]).astype(object) for c in typed.columns})  # the text path
        want = validate_counts(text, grid, source=str(path))[0]
        got = check_counts(path, grid)
        assert got.to_dict() == want.to_dict(), name
        assert validate_counts(typed, grid, source=str(path))[0].to_dict() == want.to_dict(), name
        if got.problems:
            lenient = read_counts(path, grid, strict=False)
            ref = counts_from_frame(text, grid, strict=False, source=str(path))
            pd.testing.assert_frame_equal(lenient.frame, ref.frame)
            assert lenient.report.to_dict() == ref.report.to_dict()


@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from([0.0, 900.0, 1800.0, 450.0, -0.0, np.nan, np.inf, 2e9]),
            st.sampled_from([900, 300, 0, -1]),
            _ids, _ids, _ids, _ids,
            st.one_of(st.floats(-5, 3000), st.sampled_from([np.nan, np.inf, 7.0, 7.5])),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_typed_cells_report_like_their_text(grid, rows):
    typed = pd.DataFrame(rows, columns=list(COUNT_COLUMNS))
    typed["camera_id"] = typed["camera_id"].astype("category")
    text = pd.DataFrame({c: cells_as_text(typed[c]).astype(object) for c in typed.columns})
    got, got_parsed, _ = validate_counts(typed, grid)
    want, want_parsed, _ = validate_counts(text, grid)
    assert got.to_dict() == want.to_dict()
    pd.testing.assert_frame_equal(got_parsed, want_parsed)
