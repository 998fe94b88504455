"""Count files: schema, validation (every problem, with rows), strict/lenient, registry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citybrain.counts import (
    COUNT_COLUMNS,
    CountTable,
    check_counts,
    counts_from_frame,
    read_counts,
    read_registry,
    write_counts,
)
from citybrain.exceptions import ValidationError
from citybrain.synthetic import sample_camera_counts
from citybrain.network import graph_from_sumo_net

from .conftest import NETWORKS

DATA = Path(__file__).parent / "data"
BAD = DATA / "bad_counts"
EXPECTED = json.loads((BAD / "expected.json").read_text())


@pytest.fixture(scope="module")
def grid():
    return graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")


def test_good_file_reads_clean(grid):
    table = read_counts(DATA / "good_counts.csv", grid)
    assert isinstance(table, CountTable)
    assert len(table) == 14
    assert table.interval_s == 900.0
    assert table.report.ok
    assert list(table.intervals) == [0.0, 900.0]
    assert set(table.frame["to_edge"]) >= {""}


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


def test_lenient_drops_bad_rows_and_keeps_report(grid):
    table = read_counts(BAD / "many_problems.csv", grid, strict=False)
    assert not table.report.ok
    assert set(table.report.dropped_rows) == {2, 3, 4, 5, 7, 8, 16}
    assert len(table) == 15 - 7
    assert (table.frame["count"] >= 0).all()


def test_lenient_still_refuses_unusable_file(grid):
    with pytest.raises(ValidationError, match="missing column"):
        read_counts(BAD / "missing_column.csv", grid, strict=False)


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
    pytest.importorskip("pyarrow")
    path = write_counts(table, tmp_path / "counts.parquet")
    again = read_counts(path, grid)
    assert again.origin == table.origin
    np.testing.assert_array_equal(again.frame["count"], table.frame["count"])


def test_registry_checks(grid, tmp_path):
    reg = pd.DataFrame(
        {
            "camera_id": ["cam_B1_A1B1", "cam_B1_A1B1", "cam_B1_A1B1", "cam_B1_B0B1", "cam_B1_B0B1", "cam_B1_B0B1"],
            "junction": "B1",
            "from_edge": ["A1B1"] * 3 + ["B0B1"] * 3,
            "to_edge": ["B1B0", "B1B2", "B1C1", "B1A1", "B1B2", "B1C1"],
            "lanes": ["A1B1_0", "A1B1_0 A1B1_1", "A1B1_1", 1, 2, 1],
        }
    )
    path = tmp_path / "cameras.csv"
    reg.to_csv(path, index=False)
    registry = read_registry(path, grid)
    assert list(registry["lanes"]) == [1, 2, 1, 1, 2, 1]
    report = check_counts(DATA / "good_counts.csv", grid, registry=registry)
    assert {p.code for p in report.problems} == {"unknown-camera"}
    bad = reg.copy()
    bad.loc[0, "lanes"] = 0
    bad.loc[1, "junction"] = "Z9"
    bad.to_csv(path, index=False)
    with pytest.raises(ValidationError) as info:
        read_registry(path, grid)
    text = str(info.value)
    assert "bad-lanes" in text and "unknown-junction" in text and "camera-places" in text


def test_sample_camera_counts_protocol(grid):
    from citybrain.synthetic import synthetic_movement_flows

    truth = synthetic_movement_flows(grid, n_intervals=2, seed=3)
    counts = sample_camera_counts(truth, grid, drop_share=0.3, movement_share=0.5, noise_rel=0.0, seed=1)
    assert list(counts.columns) == list(COUNT_COLUMNS)
    approaches = {(m.junction, m.from_edge) for m in grid.movements if m.tls}
    seen = set(zip(counts["junction"], counts["from_edge"], strict=True))
    assert len(seen) == round(0.7 * len(approaches))
    totals = counts[counts["to_edge"] == ""]
    assert abs(len(set(totals["from_edge"])) - len(seen) / 2) <= 1
    assert read_counts_ok(counts, grid)


def read_counts_ok(frame, network) -> bool:
    return counts_from_frame(frame, network).report.ok


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
